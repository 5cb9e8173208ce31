FROM debian:bookworm AS mpi
ARG OMPI_VERSION=4.1.6
ARG OMPI_MAJOR=4.1
RUN apt-get update && apt-get install -y build-essential wget libpmix-dev libevent-dev libhwloc-dev
WORKDIR /tmp/build
ADD --checksum=sha256:f740994485516deb63b5311af122c265179f5328a0d857a567b85db00b11e415 \
    https://download.open-mpi.org/release/open-mpi/v${OMPI_MAJOR}/openmpi-${OMPI_VERSION}.tar.bz2 /tmp/build/
RUN tar xf openmpi-${OMPI_VERSION}.tar.bz2 && cd openmpi-${OMPI_VERSION} \
 && ./configure --prefix=/usr/local --with-pmix=/usr/lib/x86_64-linux-gnu/pmix2 --with-slurm \
 && make -j$(nproc) install && ldconfig

FROM mpi AS osu
ADD https://mvapich.cse.ohio-state.edu/download/mvapich/osu-micro-benchmarks-7.3.tar.gz /tmp/
RUN cd /tmp && tar xzf osu-micro-benchmarks-7.3.tar.gz && cd osu-micro-benchmarks-7.3 \
 && ./configure CC=mpicc CXX=mpicxx --prefix=/opt/osu && make -j4 install

FROM mpi
COPY --from=osu /opt/osu /opt/osu
LABEL org.opencontainers.image.title="OSU micro-benchmarks" \
      org.opencontainers.image.description="MPI latency and bandwidth" \
      hpc.mpi="openmpi ${OMPI_VERSION}"
