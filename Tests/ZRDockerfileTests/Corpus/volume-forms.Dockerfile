FROM postgres:16
VOLUME /var/lib/postgresql/data
VOLUME ["/data", "/logs"]
VOLUME /a /b /c
