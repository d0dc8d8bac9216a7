package environment

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
)

// The HTTP/JSON protocol between Remote and the handler of NewServer. Every
// request carries "Authorization: Bearer <token>". Bodies are JSON; byte
// fields are base64 (encoding/json's []byte form).
//
//	GET  /v1/info                         → Info
//	POST /v1/run      Command             → Result
//	POST /v1/read     {path}              → {data}
//	POST /v1/write    {path, data, perm}  → {}
//	POST /v1/readdir  {path}              → {entries}
//	POST /v1/stat     {path}              → FileInfo
//	POST /v1/realpath {path}              → {path}
//
// Failures answer a non-2xx status with {"error": wireError}.

type pathRequest struct {
	Path string `json:"path"`
}

type writeRequest struct {
	Path string      `json:"path"`
	Data []byte      `json:"data"`
	Perm fs.FileMode `json:"perm,omitempty"`
}

type readResponse struct {
	Data []byte `json:"data"`
}

type readDirResponse struct {
	Entries []DirEntry `json:"entries"`
}

type errorResponse struct {
	Error wireError `json:"error"`
}

// wireError carries an error across the wire with enough structure to
// rebuild a value that matches the same sentinels with errors.Is.
type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Op      string `json:"op,omitempty"`
	Path    string `json:"path,omitempty"`
}

// Error codes, each tied to a sentinel and an HTTP status.
var wireCodes = []struct {
	code   string
	err    error
	status int
}{
	{"escape", ErrEscape, http.StatusForbidden},
	{"invalid", ErrInvalid, http.StatusBadRequest},
	{"command_not_found", ErrCommandNotFound, http.StatusNotFound},
	{"unauthorized", ErrUnauthorized, http.StatusUnauthorized},
	{"unavailable", ErrUnavailable, http.StatusServiceUnavailable},
	{"not_exist", fs.ErrNotExist, http.StatusNotFound},
	{"exist", fs.ErrExist, http.StatusConflict},
	{"permission", fs.ErrPermission, http.StatusForbidden},
	{"canceled", context.Canceled, 499},
	{"deadline", context.DeadlineExceeded, http.StatusGatewayTimeout},
}

// encodeError turns err into its wire form and HTTP status.
func encodeError(err error) (wireError, int) {
	we := wireError{Code: "internal", Message: err.Error()}
	var pe *PathError
	if errors.As(err, &pe) {
		we.Op, we.Path, we.Message = pe.Op, pe.Path, pe.Err.Error()
	}
	for _, c := range wireCodes {
		if errors.Is(err, c.err) {
			we.Code = c.code
			return we, c.status
		}
	}
	return we, http.StatusInternalServerError
}

// remoteError is an error reported by an environment server: its message as
// the server wrote it, matching the sentinel its code names.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// decodeError rebuilds an error from its wire form.
func decodeError(we wireError) error {
	var sentinel error
	for _, c := range wireCodes {
		if c.code == we.Code {
			sentinel = c.err
			break
		}
	}
	var err error = &remoteError{msg: we.Message, sentinel: sentinel}
	if we.Op != "" {
		err = &PathError{Op: we.Op, Path: we.Path, Err: err}
	}
	return err
}
