FROM node:20 AS base
ONBUILD COPY package*.json /app/
ONBUILD RUN npm ci
ONBUILD COPY --chown=node:node . /app
ONBUILD ENV NODE_ENV=production
ONBUILD HEALTHCHECK CMD ["node", "healthcheck.js"]
ONBUILD RUN <<EOF
npm run build
EOF
ONBUILD COPY <<'cfg' /app/.npmrc
fund=false
cfg
USER node
