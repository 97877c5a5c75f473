// Package bench measures FlareDB against etcd 3.7 and Chainfire on one
// machine: it builds and starts every server as a process on 127.0.0.1
// (Chainfire + flaredb-pd + three flaredb stores; three etcd members; three
// Chainfire members), drives the same closed-loop load (N clients, fixed
// key and value sizes) against each, and reports medians of several rounds.
// It also measures the idle cost of many regions (CPU, goroutines, Raft
// heartbeats). `make bench-flaredb` runs it; see docs/bench-flaredb.md.
package bench
