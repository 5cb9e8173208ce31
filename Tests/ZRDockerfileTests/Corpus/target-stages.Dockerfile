FROM alpine:3.19 AS base
RUN apk add --no-cache ca-certificates

FROM base AS test
COPY . /src
RUN cd /src && ./run-tests.sh

FROM base AS release
COPY --from=test /src/dist /dist

FROM release AS debug
RUN apk add --no-cache gdb strace
