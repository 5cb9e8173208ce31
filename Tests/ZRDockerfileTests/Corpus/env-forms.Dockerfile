FROM busybox
ENV MY_NAME="John Doe"
ENV MY_DOG=Rex\ The\ Dog
ENV MY_CAT=fluffy
ENV LEGACY this is the legacy form
ENV A=1 B="two words" C='single $quoted' D=
ENV E=${MY_CAT}_suffix F=$MY_DOG
