package handlers

import "net/http"

// CachedBytes is what the small-file cache of h (a *Server) holds, as its bound counts it.
func CachedBytes(h http.Handler) int64 {
	s := h.(*Server)
	if s.downloads == nil {
		return 0
	}
	return s.downloads.cachedBytes()
}
