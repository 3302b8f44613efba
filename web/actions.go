package web

import (
	"net/http"
	"strings"

	"github.com/ckpt-go/ckpt"
)

// The writing actions, reached only through writeAction (AllowWrites and
// the CSRF token checked). Each answers 303 to the page of what it made.

func (s *server) deleteThread(w http.ResponseWriter, r *http.Request) {
	thread := r.PostForm.Get("t")
	if _, err := s.st(r.Context()).Thread(r.Context(), thread); err != nil {
		s.failErr(w, r, err)
		return
	}
	if err := s.st(r.Context()).DeleteThread(r.Context(), thread); err != nil {
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, s.link("/"), http.StatusSeeOther)
}

func (s *server) copyThread(w http.ResponseWriter, r *http.Request) {
	src, dst := r.PostForm.Get("t"), strings.TrimSpace(r.PostForm.Get("dst"))
	if err := s.st(r.Context()).CopyThread(r.Context(), src, dst, ckpt.CopyOptions{}); err != nil {
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, s.link("/thread", "t", dst), http.StatusSeeOther)
}
