// The journal's on-disk formats (docs/durability.md draws them). Everything
// is little-endian, every struct is padding-free with its layout pinned by
// static_asserts, and every byte is covered by a checksum.
//
// A journal directory holds:
//   LOCK                          held (flock) by the one writer
//   <first seq, 20 digits>.wal    segments, named by their first record's seq
//   snap-<seq, 20 digits>.snap    snapshots of the machine after that seq
//   *.tmp                         unfinished files (removed at open)
//
// Segment = SegmentHeader, then frames back to back, then zeros (the file is
// preallocated) or nothing (a sealed segment is cut to its last frame).
// Frame = FrameHeader + body; body = the frame's records, each a
// RecordHeader + payload padded to 8 bytes; encrypted segments encrypt the
// body (AES-256-GCM, the header's fields as associated data).
//
// Hash chain: chain(frame) = SHA-256(chain(previous frame) || the frame
// header's bytes [8, 40) || the plaintext body); the first frame of the
// journal starts from 32 zero bytes (or from the chain a snapshot records,
// for a journal that starts at a snapshot). Each frame header stores its
// chain value, each segment header the chain value before its first frame
// (the hash of everything before it), each snapshot the chain value at its
// seq. The chain covers every byte of every record in order, so an edit, a
// deletion, an insertion or a reordering anywhere changes every later value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "shanraq/journal/crypto.hpp"

namespace shanraq::journal {

inline constexpr std::uint32_t kFormatVersion = 1;
inline constexpr char kSegmentMagic[9] = "SHQJSEG\x01";
inline constexpr char kSnapshotMagic[9] = "SHQJSNP\x01";
inline constexpr std::uint32_t kFrameMagic = 0x46514853;  // "SHQF"

inline constexpr std::uint32_t kFlagEncrypted = 1;

struct SegmentHeader {
  char magic[8];                // kSegmentMagic
  std::uint32_t version;        // kFormatVersion
  std::uint32_t header_crc;     // CRC32C of the 128 bytes with this field 0
  std::uint32_t machine_tag;    // StateMachine::kMachineTag
  std::uint32_t wire_version;   // StateMachine::kWireVersion
  std::uint32_t record_size;    // payload bytes of every record
  std::uint32_t flags;          // kFlagEncrypted
  std::uint64_t first_seq;      // seq of the first record this segment holds
  std::uint64_t max_write;      // the writer's largest single write (bounds a torn tail)
  std::uint8_t prev_chain[32];  // chain value after seq first_seq - 1
  std::uint64_t journal_id;     // random at creation, shared by every file of the journal
  std::uint32_t key_id;         // 0 when not encrypted
  std::uint32_t reserved0;
  std::uint8_t nonce_salt[8];   // random per segment: frames' GCM nonce = salt || frame index
  std::uint8_t key_check[16];   // GCM tag over bytes [0, 104) under the key: tells a wrong key from damage
  std::uint64_t reserved1;
};
static_assert(sizeof(SegmentHeader) == 128 && std::is_trivially_copyable_v<SegmentHeader>);
static_assert(std::has_unique_object_representations_v<SegmentHeader>);
static_assert(offsetof(SegmentHeader, key_check) == 104);

struct FrameHeader {
  std::uint32_t magic;           // kFrameMagic
  std::uint32_t header_crc;      // CRC32C of bytes [8, 96)
  std::uint64_t first_seq;       // [8, 40) is the chain's and GCM's associated data
  std::uint32_t count;           // records in the frame, >= 1
  std::uint32_t body_bytes;      // bytes after this header
  std::uint64_t synced_through;  // every seq <= this was on disk before this frame was written
  std::uint32_t frame_index;     // within the segment (the GCM nonce's counter)
  std::uint32_t reserved0;
  std::uint8_t chain[32];        // chain value after this frame
  std::uint8_t tag[16];          // GCM tag of the body (zeros when not encrypted)
  std::uint64_t reserved1;
};
static_assert(sizeof(FrameHeader) == 96 && std::is_trivially_copyable_v<FrameHeader>);
static_assert(std::has_unique_object_representations_v<FrameHeader>);
static_assert(offsetof(FrameHeader, chain) == 40);

struct RecordHeader {
  std::uint32_t crc;     // CRC32C of bytes [4, 24) and the payload (not its padding)
  std::uint32_t length;  // payload bytes
  std::uint64_t seq;     // == the payload's own seq (offset 0 of a command)
  std::int64_t time_ns;  // == the payload's own time_ns (offset 8)
};
static_assert(sizeof(RecordHeader) == 24);

struct SnapshotHeader {
  char magic[8];              // kSnapshotMagic
  std::uint32_t version;      // kFormatVersion
  std::uint32_t header_crc;   // CRC32C of the 192 bytes with this field 0
  std::uint32_t machine_tag;
  std::uint32_t wire_version;
  std::uint64_t seq;          // the state after applying every command <= seq
  std::int64_t time_ns;       // the machine's clock then
  std::uint64_t state_hash;   // the machine's state_hash() then
  std::uint64_t journal_id;
  std::uint8_t chain[32];     // the journal's chain value at seq (links the snapshot to its place)
  std::uint64_t body_bytes;   // stored bytes after the header (ciphertext when encrypted)
  std::uint8_t body_sha256[32];  // of the plaintext body (machine.snapshot() bytes)
  std::uint32_t key_id;
  std::uint32_t flags;
  std::uint8_t nonce[12];
  std::uint32_t reserved0;
  std::uint8_t tag[16];
  std::uint8_t reserved1[24];
};
static_assert(sizeof(SnapshotHeader) == 192 && std::is_trivially_copyable_v<SnapshotHeader>);
static_assert(std::has_unique_object_representations_v<SnapshotHeader>);

inline constexpr std::size_t pad8(std::size_t n) noexcept { return (n + 7) & ~std::size_t{7}; }

// Bytes a record of `record_size` payload bytes takes in a frame body.
inline constexpr std::size_t record_stride(std::size_t record_size) noexcept {
  return sizeof(RecordHeader) + pad8(record_size);
}

// "00000000000000000042.wal", "snap-00000000000000000042.snap".
std::string segment_name(std::uint64_t first_seq);
std::string snapshot_name(std::uint64_t seq);
// Parses those names; false for anything else.
bool parse_segment_name(const std::string& name, std::uint64_t* first_seq);
bool parse_snapshot_name(const std::string& name, std::uint64_t* seq);

std::uint32_t segment_header_crc(const SegmentHeader& h) noexcept;
std::uint32_t frame_header_crc(const FrameHeader& h) noexcept;
std::uint32_t snapshot_header_crc(const SnapshotHeader& h) noexcept;

}  // namespace shanraq::journal
