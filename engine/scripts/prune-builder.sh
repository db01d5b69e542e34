# prune-builder.sh: a host's unused build cache older than a week.
#
#   prune-builder.sh
#
# What `docker build` (BuildKit) on the host kept and no longer needs, when
# last used more than 168 hours ago: a host that builds (a remote builder)
# keeps the cache of this week's builds. A host without BuildKit has none.
# Output: docker's, ending with the space reclaimed. Exit: docker's.
docker builder prune --force --filter until=168h
