FROM debian:bookworm
MAINTAINER Jane Doe <jane@example.org>
STOPSIGNAL SIGRTMIN+3
STOPSIGNAL 9
