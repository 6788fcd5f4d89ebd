module github.com/flagcache/flagcache

go 1.26
