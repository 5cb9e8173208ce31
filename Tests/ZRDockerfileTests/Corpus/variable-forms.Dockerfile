ARG VERSION=1.2.3-rc1
ARG IMAGE=registry.example.org/team/app
FROM ${IMAGE:-alpine}:${VERSION%%-*}
ARG VERSION
ENV MAJOR=${VERSION%%.*} MINOR_REST=${VERSION#*.} NODOTS=${VERSION//./_}
ENV HAS=${VERSION:+yes} DEFAULT=${UNSET-fallback} EMPTYOK=${EMPTY:-d}
WORKDIR /opt/app-${VERSION/rc/release}
LABEL literal=\$NOT_EXPANDED quoted='$ALSO_NOT'
