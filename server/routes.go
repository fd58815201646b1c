package server

import (
	"net/http/pprof"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/crypttalk/crypttalk/matrix"
)

// routes is the public API, in one table (SPEC.md).
func (s *Server) routes(app *fiber.App) {
	app.Use(recover.New(), requestIDs, s.observe, closeUnread, securityHeaders)
	if len(s.opts.AllowedOrigins) > 0 {
		app.Use(cors.New(cors.Config{AllowOrigins: joinOrigins(s.opts.AllowedOrigins), AllowHeaders: "Authorization, Content-Type"}))
	}

	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.adminOnly, s.metricsHandler)
	app.Get("/ws", s.wsUpgrade, s.wsHandler())

	api := app.Group("/api")
	api.Post("/auth/register", s.register)
	api.Post("/auth/login", s.login)

	authed := api.Group("", s.authenticate)
	authed.Post("/auth/logout", s.logout)
	authed.Get("/auth/me", s.me)
	authed.Post("/auth/setavatar/:userId", s.setAvatar)
	authed.Get("/auth/allusers/:userId", s.allUsers)
	authed.Post("/messages/addmsg", s.addMsg)
	authed.Post("/messages/getmsg", s.getMsg)
	authed.Post("/files/upload", s.upload)
	authed.Get("/files/download/:fileId", s.download)
	authed.Get("/files/preview/:fileId", s.preview)
	authed.Get("/conversations", s.conversations)
	authed.Put("/conversations/:peer/timer", s.setTimer)
	authed.Delete("/conversations/:peer", s.destroyConversation)
	authed.Get("/devices", s.devices)
	authed.Put("/devices/:deviceId", s.renameDevice)
	authed.Delete("/devices/:deviceId", s.deleteDevice)

	if !s.opts.AdminListener {
		// Without an admin listener this is the only way ctl reaches the
		// admin API; with one, the public listener knows nothing of it.
		s.adminAPI(app.Group("/_admin/v1", s.adminOnly))
	}
	if s.opts.Federation != nil {
		s.opts.Federation.Routes(app)
	}
	matrix.Mount(app, s.svc, matrix.Options{ClientIP: s.clientIP, JSONDepth: s.opts.JSONDepth, BodyBytes: int64(s.opts.JSONBodyBytes)})
	s.webClient(app)
}

// adminRoutes is the admin listener: /metrics open, the admin API behind
// the admin token.
func (s *Server) adminRoutes(app *fiber.App) {
	app.Use(recover.New(), requestIDs, s.observe, closeUnread)
	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.metricsHandler)
	// Profiles for operators; the admin listener is never public.
	app.Get("/debug/pprof/profile", s.adminOnly, adaptor.HTTPHandlerFunc(pprof.Profile))
	app.Get("/debug/pprof/*", s.adminOnly, adaptor.HTTPHandlerFunc(pprof.Index))
	s.adminAPI(app.Group("/_admin/v1", s.adminOnly))
}

func (s *Server) adminAPI(r fiber.Router) {
	r.Get("/health", s.readyz)
	r.Get("/nodes", s.adminNodes)
	r.Get("/users", s.adminFindUsers)
	r.Post("/users", s.audited("users.create"), s.adminCreateUser)
	r.Get("/users/:id", s.adminShowUser)
	r.Delete("/users/:id", s.audited("users.delete"), s.adminDeleteUser)
	r.Get("/users/:id/sessions", s.adminSessions)
	r.Post("/users/:id/reset-password", s.audited("users.reset-password"), s.adminResetPassword)
	r.Get("/stats", s.adminStats)
	r.Get("/keys/status", s.adminKeysStatus)
	r.Post("/keys/verify", s.audited("keys.verify"), s.adminKeysVerify)
	r.Post("/keys/rotate", s.audited("keys.rotate"), s.adminKeysRotate)
	r.Post("/users/:id/deactivate", s.audited("users.deactivate"), s.adminDeactivate)
	r.Post("/users/:id/reactivate", s.audited("users.reactivate"), s.adminReactivate)
	r.Post("/users/:id/revoke", s.audited("users.revoke"), s.adminRevoke)
	r.Post("/users/:id/make-admin", s.audited("users.make-admin"), s.adminMakeAdmin)
	r.Post("/users/:id/revoke-admin", s.audited("users.revoke-admin"), s.adminRevokeAdmin)
	r.Post("/keys/rewrap", s.audited("keys.rewrap"), s.adminRewrap)
	r.Post("/purge", s.audited("purge"), s.adminPurge)
	r.Post("/purge/conversations", s.audited("purge.conversations"), s.adminPurgeScoped)
	r.Post("/purge/older-than", s.audited("purge.older-than"), s.adminPurgeOlderThan)
	r.Post("/purge/uploads", s.audited("purge.uploads"), s.adminPurgeUploads)
	r.Get("/audit", s.adminAudit)
	r.Post("/jobs", s.audited("jobs.create"), s.adminCreateJob)
	r.Get("/jobs", s.adminListJobs)
	r.Get("/jobs/:id", s.adminGetJob)
	r.Post("/jobs/:id/cancel", s.audited("jobs.cancel"), s.adminCancelJob)
	r.Post("/notices", s.audited("notice.send"), s.adminNotice)
	r.Get("/federation/destinations", s.adminFederationDestinations)
	r.Post("/federation/destinations/:server/retry", s.audited("federation.retry"), s.adminFederationRetry)
	r.Post("/keys/rotate-signing", s.audited("keys.rotate-signing"), s.adminRotateSigning)
}

func joinOrigins(list []string) string {
	out := ""
	for i, o := range list {
		if i > 0 {
			out += ","
		}
		out += o
	}
	return out
}
