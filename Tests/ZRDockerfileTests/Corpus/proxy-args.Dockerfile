FROM debian:bookworm
ARG HTTP_PROXY
ARG NO_PROXY=localhost,127.0.0.1
RUN apt-get update
