package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Device is one of the caller's devices: each login opens one.
type Device struct {
	DeviceID    string    `json:"device_id"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
	LastSeenAt  time.Time `json:"last_seen_at"`
	LastIP      string    `json:"last_ip"`
	UserAgent   string    `json:"user_agent"`
	Current     bool      `json:"current"`
}

// LoginDevice is Login on a named device (deviceID "" opens a new one; a
// device the user has gets a new token and its old one ends) and answers
// the device id.
func (c *Client) LoginDevice(ctx context.Context, username, password, deviceID, deviceName string) (*User, string, error) {
	var a struct {
		authAnswer
		DeviceID string `json:"device_id"`
	}
	body := map[string]string{"username": username, "password": password, "device_id": deviceID, "device_name": deviceName}
	if err := c.Do(ctx, http.MethodPost, "/api/auth/login", body, &a); err != nil {
		return nil, "", err
	}
	c.Token = a.Token
	return &a.User, a.DeviceID, nil
}

// Devices lists the caller's devices, oldest first.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	var out []Device
	return out, c.Do(ctx, http.MethodGet, "/api/devices", nil, &out)
}

// RenameDevice sets a device's display name ("" clears it).
func (c *Client) RenameDevice(ctx context.Context, deviceID, name string) (*Device, error) {
	var a struct {
		Device Device `json:"device"`
	}
	if err := c.Do(ctx, http.MethodPut, "/api/devices/"+url.PathEscape(deviceID), map[string]string{"display_name": name}, &a); err != nil {
		return nil, err
	}
	return &a.Device, nil
}

// DeleteDevice ends a device's token and its sockets on every node.
func (c *Client) DeleteDevice(ctx context.Context, deviceID string) error {
	return c.Do(ctx, http.MethodDelete, "/api/devices/"+url.PathEscape(deviceID), nil, nil)
}
