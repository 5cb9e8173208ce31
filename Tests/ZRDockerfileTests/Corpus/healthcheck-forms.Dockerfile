FROM nginx:1.25
HEALTHCHECK NONE
HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms --retries=5 \
  CMD curl -f http://localhost/ || exit 1
HEALTHCHECK CMD ["curl", "-f", "http://localhost/"]
