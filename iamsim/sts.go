package iamsim

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"
)

const (
	mfaUnableMsg  = "MultiFactorAuthentication failed, unable to validate MFA code. Please verify your MFA serial number is valid and associated with this user."
	mfaInvalidMsg = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
)

func getCallerIdentity(c *call) (string, error) {
	var b xmlb
	b.el(2, "Arn", c.key.arn)
	b.el(2, "UserId", c.key.userID)
	b.el(2, "Account", c.s.accountID)
	return b.String(), nil
}

// mfa validates SerialNumber and TokenCode and checks the code against one of the
// caller's devices. present is false when neither was given.
func (c *call) mfa(v *validation) (serial, code string) {
	serial = v.str(c.params, "SerialNumber", "serialNumber", false, 9, 256, serialClass, `[\w+=/:,.@-]*`)
	code = v.str(c.params, "TokenCode", "tokenCode", false, 6, 6, digitClass, `[\d]*`)
	return serial, code
}

func (c *call) checkMFA(serial, code string) *apiError {
	if serial == "" || code == "" {
		return errAccessDenied(mfaUnableMsg)
	}
	st := &c.s.st
	st.mu.RLock()
	defer st.mu.RUnlock()
	d := st.devices[serial]
	if d == nil || c.key.user == nil || d.user != c.key.user {
		return errAccessDenied(mfaUnableMsg)
	}
	n, _ := parseCode(code)
	d.mu.Lock()
	ok := d.checkOne(n, c.now)
	d.mu.Unlock()
	if !ok {
		return errAccessDenied(mfaInvalidMsg)
	}
	return nil
}

func getSessionToken(c *call) (string, error) {
	var v validation
	dur := v.integer(c.params, "DurationSeconds", "durationSeconds", 900, 129600, 43200)
	serial, code := c.mfa(&v)
	if e := v.err(); e != nil {
		return "", e
	}
	if c.key.user != nil {
		c.userName = c.key.user.name
	}
	if c.key.session {
		return "", errAccessDenied("Cannot call GetSessionToken with session credentials")
	}
	if serial != "" || code != "" {
		if e := c.checkMFA(serial, code); e != nil {
			return "", e
		}
	}
	ks := c.s.newSession(c.now.Add(time.Duration(dur) * time.Second))
	ks.user, ks.arn, ks.userID, ks.parent = c.key.user, c.key.arn, c.key.userID, c.key
	c.s.st.addKey(ks)
	var b xmlb
	b.credentials(ks)
	return b.String(), nil
}

func assumeRole(c *call) (string, error) {
	var v validation
	roleArn := v.str(c.params, "RoleArn", "roleArn", true, 20, 2048, nil, "")
	session := v.str(c.params, "RoleSessionName", "roleSessionName", true, 2, 64, nameClass, `[\w+=,.@-]*`)
	dur := v.integer(c.params, "DurationSeconds", "durationSeconds", 900, 43200, 3600)
	serial, code := c.mfa(&v)
	if e := v.err(); e != nil {
		return "", e
	}
	if c.key.user != nil {
		c.userName = c.key.user.name
	}
	denied := errAccessDenied("User: " + c.key.arn + " is not authorized to perform: sts:AssumeRole on resource: " + roleArn)
	prefix := "arn:aws:iam::" + c.s.accountID + ":role/"
	if !strings.HasPrefix(roleArn, prefix) {
		return "", denied
	}
	name := roleArn[strings.LastIndexByte(roleArn, '/')+1:]
	c.s.st.mu.RLock()
	r := c.s.st.roles[name]
	c.s.st.mu.RUnlock()
	if r == nil || r.arn != roleArn {
		return "", denied
	}
	if r.requiresMFA && (serial == "" || code == "") {
		return "", denied
	}
	if serial != "" || code != "" {
		if e := c.checkMFA(serial, code); e != nil {
			return "", e
		}
	}
	if dur > r.maxSession {
		return "", errValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	ks := c.s.newSession(c.now.Add(time.Duration(dur) * time.Second))
	ks.role = r
	ks.arn = "arn:aws:sts::" + c.s.accountID + ":assumed-role/" + r.name + "/" + session
	ks.userID = r.id + ":" + session
	c.s.st.addKey(ks)
	var b xmlb
	b.credentials(ks)
	b.open(2, "AssumedRoleUser")
	b.el(3, "AssumedRoleId", ks.userID)
	b.el(3, "Arn", ks.arn)
	b.close(2, "AssumedRoleUser")
	return b.String(), nil
}

// newSession makes temporary credentials that the server accepts until expires.
func (s *Server) newSession(expires time.Time) *keyState {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	for i := range id {
		id[i] = alphabet[id[i]%32]
	}
	secret := make([]byte, 30)
	_, _ = rand.Read(secret)
	token := make([]byte, 96)
	_, _ = rand.Read(token)
	exp := expires.UTC().Truncate(time.Second)
	return &keyState{
		id:           "ASIA" + string(id),
		secret:       base64.StdEncoding.EncodeToString(secret),
		session:      true,
		sessionToken: "FwoGZXIvYXdzE" + base64.StdEncoding.EncodeToString(token),
		expires:      &exp,
	}
}

func (st *state) addKey(k *keyState) {
	st.mu.Lock()
	st.keys[k.id] = k
	st.mu.Unlock()
}

func (b *xmlb) credentials(k *keyState) {
	b.open(2, "Credentials")
	b.el(3, "AccessKeyId", k.id)
	b.el(3, "SecretAccessKey", k.secret)
	b.el(3, "SessionToken", k.sessionToken)
	b.el(3, "Expiration", isoTime(*k.expires))
	b.close(2, "Credentials")
}
