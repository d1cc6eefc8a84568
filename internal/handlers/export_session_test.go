package handlers

import (
	"context"
	"net/http"
)

// PutSessionID is the id under which h (a *Server) keeps the session of a PUT to name.
func PutSessionID(h http.Handler, name string) string {
	return h.(*Server).xep.putID(context.Background(), name)
}
