// Package tds is tdsproxy's codec for TDS, the SQL Server wire protocol
// ([MS-TDS] v39.0). It covers both directions: the client side of a
// handshake (used by the proxy towards its backends) and the server side
// (used by the proxy towards its clients and by the simulator).
//
// The package depends on the standard library only. Decoders start from a
// zero value, check every length before slicing and never panic: malformed
// input yields an error naming the message and the field. Unless a doc
// comment says "retains src", a decoder copies what it keeps.
package tds
