# syntax=docker/dockerfile:1
FROM ubuntu:22.04 AS builder
ARG SPACK_VERSION=v0.21.2
ARG SPACK_ROOT=/opt/spack
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential ca-certificates curl file g++ gcc gfortran git gnupg2 \
        iproute2 make python3 python3-pip unzip zstd \
    && rm -rf /var/lib/apt/lists/*
RUN git clone --depth=1 -b ${SPACK_VERSION} https://github.com/spack/spack.git ${SPACK_ROOT}
ENV PATH=${SPACK_ROOT}/bin:$PATH
RUN mkdir -p /opt/spack-environment && cat <<EOF > /opt/spack-environment/spack.yaml
spack:
  specs:
  - openmpi@4.1.6 fabrics=ofi schedulers=slurm
  - hdf5+mpi
  - petsc
  concretizer:
    unify: true
  config:
    install_tree: /opt/software
  view: /opt/views/view
EOF
RUN --mount=type=cache,target=/opt/spack-cache,sharing=locked \
    cd /opt/spack-environment && spack env activate . && \
    spack config add "config:source_cache:/opt/spack-cache" && \
    spack install --fail-fast && spack gc -y

FROM ubuntu:22.04
COPY --from=builder /opt/spack-environment /opt/spack-environment
COPY --from=builder /opt/software /opt/software
COPY --from=builder /opt/views /opt/views
ENV PATH=/opt/views/view/bin:$PATH \
    LD_LIBRARY_PATH=/opt/views/view/lib
ENTRYPOINT ["/bin/bash", "-lc"]
