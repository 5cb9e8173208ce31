FROM centos:7
RUN yum -y install epel-release \
 && yum -y install \
      gcc \
      gcc-c++ \
      make \
      openssl-devel \
      zlib-devel \
 && yum clean all \
 && rm -rf /var/cache/yum \
 && echo done
