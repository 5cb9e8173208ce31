FROM alpine:3.19
RUN set -eux; \
# comment lines inside a continuation are removed
    apk add --no-cache bash; \
    # indented comments too
    bash --version

RUN echo one \

    two
