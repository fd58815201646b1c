package store

import "strings"

// LegacyDeviceID is the device id of a session stored before sessions
// carried one: the Matrix adapter has always named a token's device
// "CT" + the first ten hex digits of its hash, upper-cased, so clients
// that kept that id keep seeing it.
func LegacyDeviceID(tokenHash string) string {
	return "CT" + strings.ToUpper(tokenHash[:min(10, len(tokenHash))])
}

// FillDevice gives a session read from a backend its device id when the
// record predates device ids. Backends call it on every session they
// return.
func FillDevice(s *Session) *Session {
	if s != nil && s.DeviceID == "" {
		s.DeviceID = LegacyDeviceID(s.TokenHash)
	}
	return s
}

// IsDevice reports whether s is the session of deviceID.
func (s *Session) IsDevice(deviceID string) bool {
	return deviceID != "" && FillDevice(s).DeviceID == deviceID
}
