FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y gfortran liblapack-dev libopenblas-dev make
WORKDIR /work
COPY Makefile *.f90 ./
RUN make FC=gfortran FFLAGS="-O3 -march=x86-64-v3" LIBS="-llapack -lopenblas"

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y libgfortran5 liblapack3 libopenblas0 && rm -rf /var/lib/apt/lists/*
COPY --from=build /work/solver /usr/local/bin/
