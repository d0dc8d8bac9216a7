package environment

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// maxRequestBody bounds a request body: a 64 MiB file in base64 plus room.
const maxRequestBody = 96 << 20

// NewServer returns the HTTP handler that serves env to Remote clients
// (protocol in wire.go's comment). Every request must carry
// "Authorization: Bearer <token>"; an empty token refuses every request, so
// a misconfigured server fails closed. Commands and file operations run
// with the request's context: a client that goes away cancels its command.
func NewServer(env Environment, token string) http.Handler {
	s := &server{env: env, token: []byte(token)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", s.info)
	mux.HandleFunc("POST /v1/run", s.run)
	mux.HandleFunc("POST /v1/read", s.read)
	mux.HandleFunc("POST /v1/write", s.write)
	mux.HandleFunc("POST /v1/readdir", s.readDir)
	mux.HandleFunc("POST /v1/stat", s.stat)
	mux.HandleFunc("POST /v1/realpath", s.realPath)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("%w: no endpoint %s %s", ErrInvalid, r.Method, r.URL.Path), http.StatusNotFound)
	})
	return s.authenticate(mux)
}

type server struct {
	env   Environment
	token []byte
}

func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.token) == 0 {
			writeError(w, fmt.Errorf("%w: server has no token configured", ErrUnauthorized), 0)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			writeError(w, fmt.Errorf("%w: missing bearer token", ErrUnauthorized), 0)
			return
		}
		if subtle.ConstantTimeCompare([]byte(got), s.token) != 1 {
			writeError(w, fmt.Errorf("%w: wrong bearer token", ErrUnauthorized), 0)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		next.ServeHTTP(w, r)
	})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, fmt.Errorf("%w: request body over %d bytes", ErrInvalid, tooBig.Limit), http.StatusRequestEntityTooLarge)
			return false
		}
		writeError(w, fmt.Errorf("%w: bad request body: %v", ErrInvalid, err), 0)
		return false
	}
	return true
}

func respond(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, err, 0)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers err in wire form; status 0 means the code's status.
func writeError(w http.ResponseWriter, err error, status int) {
	we, st := encodeError(err)
	if status == 0 {
		status = st
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorResponse{Error: we})
}

func (s *server) info(w http.ResponseWriter, r *http.Request) {
	info, err := s.env.Info(r.Context())
	respond(w, info, err)
}

func (s *server) run(w http.ResponseWriter, r *http.Request) {
	var c Command
	if !decode(w, r, &c) {
		return
	}
	res, err := s.env.Run(r.Context(), c)
	respond(w, res, err)
}

func (s *server) read(w http.ResponseWriter, r *http.Request) {
	var req pathRequest
	if !decode(w, r, &req) {
		return
	}
	data, err := s.env.ReadFile(r.Context(), req.Path)
	respond(w, readResponse{Data: data}, err)
}

func (s *server) write(w http.ResponseWriter, r *http.Request) {
	var req writeRequest
	if !decode(w, r, &req) {
		return
	}
	err := s.env.WriteFile(r.Context(), req.Path, req.Data, req.Perm)
	respond(w, struct{}{}, err)
}

func (s *server) readDir(w http.ResponseWriter, r *http.Request) {
	var req pathRequest
	if !decode(w, r, &req) {
		return
	}
	ents, err := s.env.ReadDir(r.Context(), req.Path)
	respond(w, readDirResponse{Entries: ents}, err)
}

func (s *server) stat(w http.ResponseWriter, r *http.Request) {
	var req pathRequest
	if !decode(w, r, &req) {
		return
	}
	fi, err := s.env.Stat(r.Context(), req.Path)
	respond(w, fi, err)
}

func (s *server) realPath(w http.ResponseWriter, r *http.Request) {
	var req pathRequest
	if !decode(w, r, &req) {
		return
	}
	pr, ok := s.env.(PathResolver)
	if !ok {
		writeError(w, fmt.Errorf("%w: this environment cannot resolve paths", ErrInvalid), http.StatusNotImplemented)
		return
	}
	p, err := pr.RealPath(r.Context(), req.Path)
	respond(w, pathRequest{Path: p}, err)
}
