// Named limits of the SWIM gossip layer and the relationships between them, checked at compile
// time. Every bound on memory, queue length or datagram size in membership/swim/ is one of these.
//
// Pure constants; no state, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/limits.h"
#include "ring/ring.h"

namespace chorus::swim {

// Bumped on any incompatible change to the wire format; a datagram with another version is dropped.
constexpr uint8_t kWireVersion = 1;

// One gossip datagram, headers included: 1500-byte Ethernet MTU minus IPv6 (40) and UDP (8)
// headers leaves 1452; 1400 keeps clear of tunnels and VLAN tags so datagrams are never fragmented
// (a lost fragment loses the whole datagram).
constexpr size_t kMaxDatagramBytes = 1400;

// Field bounds. Node ids share the record format's bound; "host:port" fits 128 bytes for any IP
// address and for the short DNS names a cluster uses (Kubernetes pod names included).
constexpr size_t kMaxIdBytes = kNodeIdBytesMax;
constexpr size_t kMaxAddressBytes = 128;

// Bytes of a varint holding a value below 2^14.
constexpr size_t kVarint14Bytes = 2;
constexpr size_t kMaxVarint64Bytes = 10;

// A member record on the wire: id, peer address, http address (each length-prefixed) and the
// incarnation (varint).
constexpr size_t kMaxRecordBytes =
    (kVarint14Bytes + kMaxIdBytes) + 2 * (kVarint14Bytes + kMaxAddressBytes) + kMaxVarint64Bytes;
// The smallest record: 1-byte id, 1-byte peer address, empty http address, incarnation 0.
constexpr size_t kMinRecordBytes = (1 + 1) + (1 + 1) + 1 + 1;
// A piggybacked update: state byte + record.
constexpr size_t kMaxUpdateBytes = 1 + kMaxRecordBytes;
constexpr size_t kMinUpdateBytes = 1 + kMinRecordBytes;
// Everything of a datagram but its updates, for the largest message (ping-req): version, type,
// sequence number, sender record, target id, target address, update count.
constexpr size_t kMaxHeaderBytes = 2 + kMaxVarint64Bytes + kMaxRecordBytes +
                                   (kVarint14Bytes + kMaxIdBytes) +
                                   (kVarint14Bytes + kMaxAddressBytes) + kVarint14Bytes;
// What a decoder accepts in one datagram; more cannot fit anyway.
constexpr size_t kMaxUpdatesPerDatagram = kMaxDatagramBytes / kMinUpdateBytes;

// Members one node tracks, dead ones included (the ring's own bound).
constexpr size_t kMaxMembers = 1024;
// Queued updates: the queue keeps at most one update per member (a newer claim replaces an older
// one), so one slot per member is enough and nothing is lost to the bound in a full cluster.
constexpr size_t kMaxBroadcastQueue = kMaxMembers;
// Ping-reqs this node is serving for others at once; more are dropped (the requester has other
// helpers). A node receives about k ping-reqs per failed probe in the cluster per interval.
constexpr size_t kMaxPendingRelays = 64;
// Helpers asked per indirect probe (memberlist's IndirectChecks is 3).
constexpr int kMaxIndirectProbes = 8;
// Datagrams produced between two take_outgoing() calls; beyond it new ones are dropped.
constexpr size_t kMaxOutgoingDatagrams = 1024;
// A join is answered with the member table in chunks of at most this many datagrams. With ids and
// addresses of typical length (under kTypicalUpdateBytes per update) the whole kMaxMembers table
// fits; with pathological lengths the tail is learned from gossip and probes instead.
constexpr size_t kMaxSyncDatagrams = 96;
constexpr size_t kTypicalUpdateBytes = 64;
// Seed addresses in the configuration.
constexpr size_t kMaxSeeds = 64;

static_assert(kMaxDatagramBytes <= 1452, "a gossip datagram must fit one Ethernet frame");
static_assert(kMaxHeaderBytes + 2 * kMaxUpdateBytes <= kMaxDatagramBytes,
              "every message must carry the recipient's own state plus at least one broadcast");
static_assert(kMaxUpdatesPerDatagram < (size_t{1} << 14), "update count fits kVarint14Bytes");
static_assert(kMaxIdBytes < (size_t{1} << 14) && kMaxAddressBytes < (size_t{1} << 14),
              "field lengths fit kVarint14Bytes");
static_assert(kMaxMembers <= kRingMembersMax, "every gossip member must fit in a ring");
static_assert(kMaxBroadcastQueue >= kMaxMembers, "one queued update per member must fit");
static_assert(kMaxSyncDatagrams * ((kMaxDatagramBytes - kMaxHeaderBytes) / kTypicalUpdateBytes) >=
                  kMaxMembers,
              "a join reply must carry a full table of typically sized members");
static_assert(4 * kMaxSyncDatagrams <= kMaxOutgoingDatagrams,
              "several join replies must fit between two drains of the outbox");

}  // namespace chorus::swim
