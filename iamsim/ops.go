package iamsim

import (
	"strconv"
	"strings"
	"time"
)

// operation is one action of IAM or STS.
type operation struct {
	service  string // "iam" or "sts"
	mutating bool   // recorded in the ledger
	run      func(c *call) (string, error)
}

var (
	iamOps = map[string]*operation{
		"ResyncMFADevice":        {service: "iam", mutating: true, run: resyncMFADevice},
		"EnableMFADevice":        {service: "iam", mutating: true, run: enableMFADevice},
		"DeactivateMFADevice":    {service: "iam", mutating: true, run: deactivateMFADevice},
		"CreateVirtualMFADevice": {service: "iam", mutating: true, run: createVirtualMFADevice},
		"DeleteVirtualMFADevice": {service: "iam", mutating: true, run: deleteVirtualMFADevice},
		"ListMFADevices":         {service: "iam", run: listMFADevices},
		"ListVirtualMFADevices":  {service: "iam", run: listVirtualMFADevices},
		"GetUser":                {service: "iam", run: getUser},
		"ListUsers":              {service: "iam", run: listUsers},
		"ListAccountAliases":     {service: "iam", run: listAccountAliases},
	}
	stsOps = map[string]*operation{
		"GetCallerIdentity": {service: "sts", run: getCallerIdentity},
		"GetSessionToken":   {service: "sts", mutating: true, run: getSessionToken},
		"AssumeRole":        {service: "sts", mutating: true, run: assumeRole},
	}
)

// lookupOp finds the action for the scope's service (or, unsigned, the Version's) and
// checks the API version.
func lookupOp(service, action, version string) *operation {
	switch service {
	case "iam":
		if version == versionIAM {
			return iamOps[action]
		}
	case "sts":
		if version == versionSTS {
			return stsOps[action]
		}
	default:
		switch version {
		case versionIAM:
			return iamOps[action]
		case versionSTS:
			return stsOps[action]
		}
	}
	return nil
}

// xmlb builds a Result element's content.
type xmlb struct{ strings.Builder }

func (b *xmlb) el(indent int, name, value string) {
	for i := 0; i < indent; i++ {
		b.WriteString("  ")
	}
	b.WriteString("<" + name + ">")
	escape(&b.Builder, value)
	b.WriteString("</" + name + ">\n")
}

func (b *xmlb) open(indent int, name string) {
	for i := 0; i < indent; i++ {
		b.WriteString("  ")
	}
	b.WriteString("<" + name + ">\n")
}

func (b *xmlb) close(indent int, name string) {
	for i := 0; i < indent; i++ {
		b.WriteString("  ")
	}
	b.WriteString("</" + name + ">\n")
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func (b *xmlb) user(indent int, u *userState) {
	b.el(indent, "Path", u.path)
	b.el(indent, "UserName", u.name)
	b.el(indent, "UserId", u.id)
	b.el(indent, "Arn", u.arn)
	b.el(indent, "CreateDate", isoTime(u.created))
}

// --- TOTP checks. The device's mu must be held. ---

// checkTwo looks for code1 and code2 at consecutive steps whose second step lies within
// ±window of the server's step, later than the last accepted step. It searches outward
// from the stored drift, so a token that kept its drift costs one or two HMACs. On
// success it stores the detected drift and the second step.
func (d *deviceState) checkTwo(code1, code2 uint32, now time.Time, window int) bool {
	s := Step(now)
	try := func(j int) bool {
		step := s + int64(j)
		if d.hasLast && step-1 <= d.lastStep {
			return false
		}
		if d.otp.codeAt(step) != code2 || d.otp.codeAt(step-1) != code1 {
			return false
		}
		d.drift, d.lastStep, d.hasLast = j, step, true
		return true
	}
	center := min(max(d.drift, -window), window)
	for dist := 0; dist <= 2*window; dist++ {
		if j := center + dist; j <= window && try(j) {
			return true
		}
		if j := center - dist; dist > 0 && j >= -window && try(j) {
			return true
		}
	}
	return false
}

// checkOne accepts a sign-in code within the stored drift ±SignInWindow, later than
// the last accepted step, and records its step.
func (d *deviceState) checkOne(code uint32, now time.Time) bool {
	s := Step(now) + int64(d.drift)
	for k := -SignInWindow; k <= SignInWindow; k++ {
		step := s + int64(k)
		if d.hasLast && step <= d.lastStep {
			continue
		}
		if d.otp.codeAt(step) == code {
			d.lastStep, d.hasLast = step, true
			return true
		}
	}
	return false
}

// --- IAM ---

func noSuchUser(name string) *apiError {
	return errNoSuchEntity("The user with name " + name + " cannot be found.")
}

func noSuchDevice(serial string) *apiError {
	return errNoSuchEntity("MFA Device with serial number " + serial + " does not exist.")
}

// codes validates the four parameters shared by ResyncMFADevice and EnableMFADevice.
func (c *call) codes(userRequired bool) (user, serial string, code1, code2 uint32, err error) {
	var v validation
	user = v.userName(c.params, "UserName", "userName", userRequired)
	serial = v.serial(c.params, "SerialNumber", "serialNumber", true)
	s1 := v.code(c.params, "AuthenticationCode1", "authenticationCode1", true)
	s2 := v.code(c.params, "AuthenticationCode2", "authenticationCode2", true)
	if e := v.err(); e != nil {
		return "", "", 0, 0, e
	}
	code1, _ = parseCode(s1)
	code2, _ = parseCode(s2)
	return user, serial, code1, code2, nil
}

func resyncMFADevice(c *call) (string, error) {
	userName, serial, code1, code2, err := c.codes(true)
	if err != nil {
		return "", err
	}
	st := &c.s.st
	st.mu.RLock()
	defer st.mu.RUnlock()
	u := st.users[userName]
	if u == nil {
		return "", noSuchUser(userName)
	}
	d := st.devices[serial]
	if d == nil || d.user != u {
		return "", noSuchDevice(serial)
	}
	d.mu.Lock()
	ok := d.checkTwo(code1, code2, c.now, c.s.window)
	d.mu.Unlock()
	if !ok {
		return "", errInvalidCode()
	}
	return "", nil
}

func enableMFADevice(c *call) (string, error) {
	userName, serial, code1, code2, err := c.codes(true)
	if err != nil {
		return "", err
	}
	st := &c.s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	u := st.users[userName]
	if u == nil {
		return "", noSuchUser(userName)
	}
	d := st.devices[serial]
	if d == nil {
		if strings.HasPrefix(serial, "arn:") {
			return "", errNoSuchEntity("VirtualMFADevice with serial number " + serial + " doesn't exist.")
		}
		return "", noSuchDevice(serial)
	}
	if d.user != nil {
		return "", sender(409, "EntityAlreadyExists", "MFA Device is already in use.")
	}
	if len(u.devices) >= MaxDevicesPerUser {
		return "", sender(409, "LimitExceeded", "Cannot exceed quota for MFADevicesPerUser: "+strconv.Itoa(MaxDevicesPerUser))
	}
	d.mu.Lock()
	ok := d.checkTwo(code1, code2, c.now, c.s.window)
	d.mu.Unlock()
	if !ok {
		return "", errInvalidCode()
	}
	d.user = u
	d.enableDate = c.now.UTC()
	u.devices = append(u.devices, d)
	return "", nil
}

// callerUser resolves an optional UserName to the caller's own user.
func (c *call) callerUser(name string) (*userState, *apiError) {
	if name == "" {
		if c.key == nil || c.key.user == nil {
			return nil, errValidation("Must specify userName when calling with non-User credentials")
		}
		return c.key.user, nil
	}
	u := c.s.st.users[name]
	if u == nil {
		return nil, noSuchUser(name)
	}
	return u, nil
}

func deactivateMFADevice(c *call) (string, error) {
	var v validation
	name := v.userName(c.params, "UserName", "userName", false)
	serial := v.serial(c.params, "SerialNumber", "serialNumber", true)
	if e := v.err(); e != nil {
		return "", e
	}
	st := &c.s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	u, e := c.callerUser(name)
	if e != nil {
		return "", e
	}
	c.userName = u.name
	d := st.devices[serial]
	if d == nil || d.user != u {
		return "", noSuchDevice(serial)
	}
	for i, x := range u.devices {
		if x == d {
			u.devices = append(u.devices[:i:i], u.devices[i+1:]...)
			break
		}
	}
	d.user = nil
	d.enableDate = time.Time{}
	return "", nil
}

func createVirtualMFADevice(c *call) (string, error) {
	var v validation
	name := v.str(c.params, "VirtualMFADeviceName", "virtualMFADeviceName", true, 1, 226, nameClass, `[\w+=,.@-]+`)
	path := v.path(c.params, "Path", "path")
	if e := v.err(); e != nil {
		return "", e
	}
	serial := "arn:aws:iam::" + c.s.accountID + ":mfa" + path + name
	if len(serial) > 256 {
		return "", sender(400, "InvalidInput", "The serial number of the new device would exceed 256 characters.")
	}
	c.serial = serial
	seed := newSeed()
	b32 := encodeSeed(seed)
	account := c.s.accountAlias
	if account == "" {
		account = c.s.accountID
	}
	png, err := qrPNG(OTPAuthURI(name, account, b32))
	if err != nil {
		return "", errServiceFail
	}
	st := &c.s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.devices[serial] != nil {
		return "", sender(409, "EntityAlreadyExists", "MFADevice entity at the same path and name already exists.")
	}
	st.devices[serial] = &deviceState{serial: serial, kind: KindVirtual, otp: newTOTP(seed)}
	st.virtualSerials = sortedInsert(st.virtualSerials, serial)
	var b xmlb
	b.open(2, "VirtualMFADevice")
	b.el(3, "SerialNumber", serial)
	b.el(3, "Base32StringSeed", b64(b32))
	b.el(3, "QRCodePNG", b64(string(png)))
	b.close(2, "VirtualMFADevice")
	return b.String(), nil
}

func deleteVirtualMFADevice(c *call) (string, error) {
	var v validation
	serial := v.serial(c.params, "SerialNumber", "serialNumber", true)
	if e := v.err(); e != nil {
		return "", e
	}
	st := &c.s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.devices[serial]
	if d == nil || d.kind != KindVirtual {
		return "", errNoSuchEntity("VirtualMFADevice with serial number " + serial + " doesn't exist.")
	}
	if d.user != nil {
		c.userName = d.user.name
		return "", sender(409, "DeleteConflict", "MFA Device is still in use.")
	}
	delete(st.devices, serial)
	st.virtualSerials = sortedRemove(st.virtualSerials, serial)
	return "", nil
}

// page validates Marker and MaxItems.
func (c *call) page(v *validation) (marker string, maxItems int) {
	marker = v.marker(c.params)
	maxItems = v.integer(c.params, "MaxItems", "maxItems", 1, 1000, 100)
	return marker, maxItems
}

// markerKey decodes a marker made by makeMarker.
func markerKey(marker string) (string, *apiError) {
	if marker == "" {
		return "", nil
	}
	k, err := unb64(marker)
	if err != nil {
		return "", errValidation("1 validation error detected: Value '" + marker + "' at 'marker' failed to satisfy constraint: Member must be a marker returned by an earlier call")
	}
	return k, nil
}

func makeMarker(key string) string { return b64(key) }

func (b *xmlb) truncated(indent int, next string) {
	if next == "" {
		b.el(indent, "IsTruncated", "false")
		return
	}
	b.el(indent, "IsTruncated", "true")
	b.el(indent, "Marker", makeMarker(next))
}

func listMFADevices(c *call) (string, error) {
	var v validation
	name := v.userName(c.params, "UserName", "userName", false)
	marker, maxItems := c.page(&v)
	if e := v.err(); e != nil {
		return "", e
	}
	from, e := markerKey(marker)
	if e != nil {
		return "", e
	}
	st := &c.s.st
	st.mu.RLock()
	defer st.mu.RUnlock()
	u, e := c.callerUser(name)
	if e != nil {
		return "", e
	}
	serials := make([]string, 0, len(u.devices))
	for _, d := range u.devices {
		serials = append(serials, d.serial)
	}
	sortStrings(serials)
	var b xmlb
	b.open(2, "MFADevices")
	next := pageOf(serials, from, maxItems, nil, func(s string) {
		d := st.devices[s]
		b.open(3, "member")
		b.el(4, "UserName", u.name)
		b.el(4, "SerialNumber", s)
		b.el(4, "EnableDate", isoTime(d.enableDate))
		b.close(3, "member")
	})
	b.close(2, "MFADevices")
	b.truncated(2, next)
	return b.String(), nil
}

func listVirtualMFADevices(c *call) (string, error) {
	var v validation
	status := v.enum(c.params, "AssignmentStatus", "assignmentStatus", "Any", "Assigned", "Unassigned", "Any")
	marker, maxItems := c.page(&v)
	if e := v.err(); e != nil {
		return "", e
	}
	from, e := markerKey(marker)
	if e != nil {
		return "", e
	}
	st := &c.s.st
	st.mu.RLock()
	defer st.mu.RUnlock()
	var b xmlb
	b.open(2, "VirtualMFADevices")
	listed := func(s string) bool {
		d := st.devices[s]
		return status == "Any" || (status == "Assigned") == (d.user != nil)
	}
	next := pageOf(st.virtualSerials, from, maxItems, listed, func(s string) {
		d := st.devices[s]
		b.open(3, "member")
		b.el(4, "SerialNumber", s)
		if d.user != nil {
			b.open(4, "User")
			b.user(5, d.user)
			b.close(4, "User")
			b.el(4, "EnableDate", isoTime(d.enableDate))
		}
		b.close(3, "member")
	})
	b.close(2, "VirtualMFADevices")
	b.truncated(2, next)
	return b.String(), nil
}

func getUser(c *call) (string, error) {
	var v validation
	name := v.userName(c.params, "UserName", "userName", false)
	if e := v.err(); e != nil {
		return "", e
	}
	st := &c.s.st
	st.mu.RLock()
	defer st.mu.RUnlock()
	var b xmlb
	if name == "" && c.key != nil && c.key.user == nil && c.key.role == nil {
		// The root user.
		b.open(2, "User")
		b.el(3, "UserId", c.s.accountID)
		b.el(3, "Arn", "arn:aws:iam::"+c.s.accountID+":root")
		b.el(3, "CreateDate", isoTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)))
		b.close(2, "User")
		return b.String(), nil
	}
	u, e := c.callerUser(name)
	if e != nil {
		return "", e
	}
	b.open(2, "User")
	b.user(3, u)
	b.close(2, "User")
	return b.String(), nil
}

func listUsers(c *call) (string, error) {
	var v validation
	prefix := v.pathPrefix(c.params)
	marker, maxItems := c.page(&v)
	if e := v.err(); e != nil {
		return "", e
	}
	from, e := markerKey(marker)
	if e != nil {
		return "", e
	}
	st := &c.s.st
	st.mu.RLock()
	defer st.mu.RUnlock()
	var b xmlb
	b.open(2, "Users")
	listed := func(name string) bool { return strings.HasPrefix(st.users[name].path, prefix) }
	next := pageOf(st.userNames, from, maxItems, listed, func(name string) {
		b.open(3, "member")
		b.user(4, st.users[name])
		b.close(3, "member")
	})
	b.close(2, "Users")
	b.truncated(2, next)
	return b.String(), nil
}

func listAccountAliases(c *call) (string, error) {
	var v validation
	c.page(&v)
	if e := v.err(); e != nil {
		return "", e
	}
	var b xmlb
	b.open(2, "AccountAliases")
	if c.s.accountAlias != "" {
		b.el(3, "member", c.s.accountAlias)
	}
	b.close(2, "AccountAliases")
	b.el(2, "IsTruncated", "false")
	return b.String(), nil
}

// pageOf writes one page of a list: the keys (sorted) from the marker's key on that
// listed accepts (nil: all), at most maxItems of them, and returns the marker of the
// next page ("" when this is the last).
func pageOf(keys []string, from string, maxItems int, listed func(string) bool, write func(string)) (next string) {
	n := 0
	for _, k := range keys[searchStrings(keys, from):] {
		if listed != nil && !listed(k) {
			continue
		}
		if n == maxItems {
			return k
		}
		write(k)
		n++
	}
	return ""
}
