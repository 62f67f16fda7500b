//go:build ignore

// extract.go regenerates the server-reply and RPC vectors in this folder
// from the project's vector collection (shared/tds-vectors). It is kept so
// the provenance of every file can be checked; tests never run it.
//
//	cd tds/testdata/tokens && go run extract.go /work/shared/tds-vectors
//
// Output: babelfish/<scenario>.rNN.bin (one reply message payload each,
// PRELOGIN reply and TLS-encrypted bytes skipped), ndpi/<flow>.rNN.bin
// (server replies in the nDPI capture), rpc/<source>.NN.bin (RPC request
// payloads) and bulk/<source>.NN.bin (bulk load payloads), packet headers
// stripped and messages reassembled.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type message struct {
	typ  byte
	data []byte
}

// messages splits a byte stream of TDS packets into messages, skipping raw
// TLS records (content types 0x14..0x17 followed by version 0x03) and
// TLS-in-PRELOGIN (type 0x12) packets.
func messages(b []byte) []message {
	var out []message
	var cur []byte
	var curType byte
	for len(b) >= 5 {
		if b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 0x03 {
			n := 5 + int(binary.BigEndian.Uint16(b[3:]))
			if n > len(b) {
				break
			}
			b = b[n:]
			continue
		}
		if len(b) < 8 {
			break
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < 8 || n > len(b) {
			fmt.Fprintf(os.Stderr, "bad packet length %d (have %d)\n", n, len(b))
			break
		}
		typ, status := b[0], b[1]
		if len(cur) == 0 {
			curType = typ
		}
		cur = append(cur, b[8:n]...)
		if status&1 != 0 {
			out = append(out, message{typ: curType, data: cur})
			cur = nil
		}
		b = b[n:]
	}
	return out
}

func write(dir, name string, data []byte) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		panic(err)
	}
}

func babelfish(src string) {
	files, _ := filepath.Glob(filepath.Join(src, "babelfish", "*.s2c.bin"))
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".s2c.bin")
		b, _ := os.ReadFile(f)
		k := 0
		first := true
		for _, m := range messages(b) {
			if m.typ != 0x04 {
				continue
			}
			if first { // the PRELOGIN reply
				first = false
				continue
			}
			k++
			write("babelfish", fmt.Sprintf("%s.r%02d.bin", base, k), m.data)
		}
		c, _ := os.ReadFile(filepath.Join(src, "babelfish", base+".c2s.bin"))
		k, kb := 0, 0
		for _, m := range messages(c) {
			switch m.typ {
			case 0x03:
				k++
				write("rpc", fmt.Sprintf("babelfish-%s.%02d.bin", base, k), m.data)
			case 0x07:
				kb++
				write("bulk", fmt.Sprintf("babelfish-%s.%02d.bin", base, kb), m.data)
			}
		}
	}
}

type segment struct {
	seq  uint32
	data []byte
}

// ndpi reads the classic-pcap capture and reassembles each TCP flow.
func ndpi(src string) {
	d, err := os.ReadFile(filepath.Join(src, "pcaps", "nDPI-mssql_tds.pcap"))
	if err != nil {
		panic(err)
	}
	if binary.LittleEndian.Uint32(d) != 0xa1b2c3d4 {
		panic("unexpected pcap magic")
	}
	link := binary.LittleEndian.Uint32(d[20:])
	flows := map[string][]segment{}
	var order []string
	for off := 24; off+16 <= len(d); {
		incl := int(binary.LittleEndian.Uint32(d[off+8:]))
		p := d[off+16 : off+16+incl]
		off += 16 + incl
		if link == 1 {
			p = p[14:]
		}
		if p[0]>>4 != 4 || p[9] != 6 {
			continue
		}
		ihl := int(p[0]&15) * 4
		tot := int(binary.BigEndian.Uint16(p[2:]))
		tcp := p[ihl:tot]
		sp, dp := binary.BigEndian.Uint16(tcp), binary.BigEndian.Uint16(tcp[2:])
		seq := binary.BigEndian.Uint32(tcp[4:])
		pl := tcp[int(tcp[12]>>4)*4:]
		if len(pl) == 0 {
			continue
		}
		dir, port := "s", dp // server to client: name the flow by the client port
		if dp == 1433 {
			dir, port = "c", sp
		}
		key := fmt.Sprintf("%s%d", dir, port)
		if _, ok := flows[key]; !ok {
			order = append(order, key)
		}
		flows[key] = append(flows[key], segment{seq, append([]byte(nil), pl...)})
	}
	for _, key := range order {
		segs := flows[key]
		sort.SliceStable(segs, func(i, j int) bool { return int32(segs[i].seq-segs[j].seq) < 0 })
		var stream []byte
		next := segs[0].seq
		for _, s := range segs {
			if int32(s.seq-next) < 0 {
				continue // retransmission
			}
			stream = append(stream, s.data...)
			next = s.seq + uint32(len(s.data))
		}
		k := 0
		for _, m := range messages(stream) {
			k++
			switch {
			case key[0] == 's' && m.typ == 0x04:
				write("ndpi", fmt.Sprintf("%s.r%02d.bin", key[1:], k), m.data)
			case key[0] == 'c' && m.typ == 0x03:
				write("rpc", fmt.Sprintf("ndpi-%s.%02d.bin", key[1:], k), m.data)
			}
		}
	}
}

func main() {
	src := "/work/shared/tds-vectors"
	if len(os.Args) > 1 {
		src = os.Args[1]
	}
	babelfish(src)
	ndpi(src)
}
