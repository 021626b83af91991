package reader

import (
	"bytes"
	"fmt"
	"testing"
)

func genManifest(n int) []byte {
	var b bytes.Buffer
	b.WriteString("user_name,serial_number,authentication_code1,authentication_code2\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "user-%07d,arn:aws:iam::123456789012:mfa/user-%07d,%06d,%06d\n", i, i, i%1000000, (i+1)%1000000)
	}
	return b.Bytes()
}

func BenchmarkRead(b *testing.B) {
	data := genManifest(100000)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		n := 0
		err := ReadManifest("m.csv", bytes.NewReader(data), func(r Record) error { n++; return nil })
		if err != nil || n != 100000 {
			b.Fatal(err, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100000, "ns/row")
}
