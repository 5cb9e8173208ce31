FROM rockylinux:9
RUN dnf -y install epel-release && dnf -y install \
      munge-devel pmix-devel hwloc-devel \
      && dnf clean all
RUN useradd -m -u 1001 hpcuser
USER hpcuser
WORKDIR /home/hpcuser
ENV OMP_NUM_THREADS=1 OMPI_MCA_btl=^openib
STOPSIGNAL SIGTERM
