package hnsw_test

import (
	"encoding/binary"
	"hash/crc64"
)

func withCRC(body []byte) []byte {
	sum := crc64.Checksum(body, crc64.MakeTable(crc64.ECMA))
	return binary.LittleEndian.AppendUint64(append([]byte(nil), body...), sum)
}
