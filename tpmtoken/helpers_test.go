package tpmtoken

import (
	"crypto/hmac"
	"crypto/sha1"
)

func hmacSHA1(key, msg []byte) []byte {
	m := hmac.New(sha1.New, key)
	m.Write(msg)
	return m.Sum(nil)
}
