FROM alpine:3.19 AS src
RUN mkdir -p /out && touch /out/a

FROM alpine:3.19
COPY --link --chmod=0755 --chown=1000:1000 entrypoint.sh /usr/local/bin/
COPY --parents ./x/a.txt ./y/a.txt /parents/
COPY --exclude=*.md --exclude=docs/ . /app/
COPY --from=src /out/ /in/
COPY --from=0 /out/a /a
COPY --from=nginx:latest /etc/nginx/nginx.conf /nginx.conf
COPY ["file with spaces.txt", "/dest dir/"]
