package server

import "github.com/credstats/credstats/internal/auth"

// orgRoutes serves the operator's API over organizations. It writes, so
// its stores use the writing connection; the revocations it makes reach
// the server's own key cache within --key-cache-ttl.
func (s *Server) orgRoutes(keyStore *auth.Keys) {
	auth.NewOrgs(s.write, 0).OrgRoutes(s.app, s.untilReady(keyStore.Require(auth.Operator, s.gate)),
		auth.NewKeys(s.write, 0), auth.NewLinks(s.write, nil, 0))
}
