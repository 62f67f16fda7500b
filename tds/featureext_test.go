package tds

import (
	"bytes"
	"errors"
	"testing"
)

func TestFeatureExtList(t *testing.T) {
	t.Parallel()
	list := []FeatureExt{{ID: FeatureUTF8Support, Data: []byte{1}}, {ID: FeatureFedAuth, Data: nil}, {ID: 0x42, Data: []byte("xyz")}}
	b := AppendFeatureExtList([]byte{0xEE}, list)[1:]
	got, n, err := DecodeFeatureExtList(append(b, 0x99), "TEST")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(b) || len(got) != 3 || got[2].ID != 0x42 || string(got[2].Data) != "xyz" || len(got[1].Data) != 0 {
		t.Fatalf("got %v, n %d", got, n)
	}
	if !bytes.Equal(AppendFeatureExtList(nil, got), b) {
		t.Fatal("re-encoding differs")
	}
	if s := got[0].String(); s != "UTF8_SUPPORT(1 bytes)" {
		t.Errorf("String %q", s)
	}
	if s := FeatureID(0x42).String(); s != "FeatureID(0x42)" {
		t.Errorf("String %q", s)
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"no terminator", []byte{0x0A, 1, 0, 0, 0, 1}},
		{"truncated length", []byte{0x0A, 1, 0}},
		{"length beyond end", []byte{0x0A, 0xFF, 0xFF, 0xFF, 0x7F, 1, 0xFF}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := DecodeFeatureExtList(tc.in, "TEST")
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Msg != "TEST" || fe.Field != "FeatureExt" {
				t.Fatalf("got %v", err)
			}
		})
	}
}
