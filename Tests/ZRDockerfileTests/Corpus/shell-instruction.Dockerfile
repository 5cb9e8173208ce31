FROM debian:bookworm
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN curl -fsSL https://example.org/install.sh | bash
SHELL ["/bin/sh", "-c"]
