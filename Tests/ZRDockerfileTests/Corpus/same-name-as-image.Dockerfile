FROM node:20 AS node
FROM python:3.12 AS python
COPY --from=node /usr/local/bin/node /usr/local/bin/node
FROM node
RUN node --version
