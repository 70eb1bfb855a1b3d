FROM busybox AS src
RUN mkdir -p /src/d/sub && echo f > /src/d/f && echo g > /src/d/sub/g && ln -s f /src/d/link \
 && echo top > /src/top && mkfifo /src/d/fifo && ln /src/d/f /src/d/hard \
 && chown 1000:1000 /src/d /src/d/f && chown 1001:1002 /src/d/sub && chown 1003:1004 /src/d/sub/g \
 && chown -h 1005:1006 /src/d/link && chown 1009:1010 /src/d/fifo && chown 1007:1008 /src/top /src \
 && chmod 0750 /src/d && chmod 0700 /src/d/sub && chmod 0604 /src/d/f && chmod 4755 /src/top && chmod 0751 /src \
 && touch -d @1000000000 /src/d/f /src/d/sub/g /src/top /src/d/fifo && touch -h -d @1000000000 /src/d/link \
 && touch -d @1100000000 /src/d/sub && touch -d @1200000000 /src/d /src
