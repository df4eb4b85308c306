package labtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres returns the DSN of a new, empty database on a real PostgreSQL
// server, dropped when the test ends. The server is LABD_TEST_PG_DSN's if
// that is set (its user needs CREATEDB); otherwise one is started for this
// test binary from Debian's postgresql package (/usr/lib/postgresql/N/bin)
// in a temporary data directory, on a loopback port, as the postgres user
// when running as root (initdb and postgres refuse root). A missing
// PostgreSQL skips the test locally and fails it in CI, through Tool.
//
// A package that uses Postgres calls StopPostgres after m.Run in its
// TestMain; without it the server still dies with the test binary.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("LABD_TEST_PG_DSN")
	if admin == "" {
		bin := postgresBin(t)
		pgMu.Lock()
		if pgSrv == nil {
			srv, err := startPostgres(bin)
			if err != nil {
				pgMu.Unlock()
				t.Fatalf("start a PostgreSQL server for the tests: %v", err)
			}
			pgSrv = srv
		}
		admin = pgSrv.dsn("postgres")
		pgMu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	defer c.Close(context.Background())
	name := fmt.Sprintf("labd_test_%d_%d", os.Getpid(), pgDBs.Add(1))
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name+" ENCODING 'UTF8' TEMPLATE template0"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", cfg.Host, cfg.Port, cfg.User, name) + password(cfg)
}

func password(cfg *pgx.ConnConfig) string {
	if cfg.Password == "" {
		return ""
	}
	return " password=" + cfg.Password
}

// RestartPostgres stops the test server (not LABD_TEST_PG_DSN's) and
// starts it again on the same port and data, for tests of what clients
// see when the database goes away and comes back. down runs while it is
// stopped.
func RestartPostgres(t testing.TB, down func()) {
	t.Helper()
	if os.Getenv("LABD_TEST_PG_DSN") != "" {
		t.Fatal("RestartPostgres needs the tests' own server: unset LABD_TEST_PG_DSN")
	}
	pgMu.Lock()
	defer pgMu.Unlock()
	if pgSrv == nil {
		t.Fatal("RestartPostgres before Postgres")
	}
	if err := pgSrv.stop(false); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	if down != nil {
		down()
	}
	if err := pgSrv.start(); err != nil {
		t.Fatalf("restart PostgreSQL: %v", err)
	}
}

// StopPostgres stops the server Postgres started, if any, and removes its
// data.
func StopPostgres() {
	pgMu.Lock()
	defer pgMu.Unlock()
	if pgSrv != nil {
		_ = pgSrv.stop(true)
		pgSrv = nil
	}
}

var (
	pgMu  sync.Mutex
	pgSrv *pgServer
	pgDBs atomic.Int64
)

// postgresBin finds Debian's server binaries (the newest major version),
// or postgres on PATH; when there is none, Tool skips or fails the test.
func postgresBin(t testing.TB) string {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(found, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[j]))))
		return vi > vj
	})
	if len(found) > 0 {
		return filepath.Dir(found[0])
	}
	return filepath.Dir(Tool(t, "postgres"))
}

type pgServer struct {
	bin, dir, sock string
	port           int
	cred           *syscall.Credential
	cmd            *exec.Cmd
	exited         chan struct{}
}

func (s *pgServer) dsn(db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=labd dbname=%s sslmode=disable", s.port, db)
}

func startPostgres(bin string) (*pgServer, error) {
	dir, err := os.MkdirTemp("", "labd-pg-")
	if err != nil {
		return nil, err
	}
	s := &pgServer{bin: bin, dir: dir, sock: filepath.Join(dir, "sock")}
	if err := os.Mkdir(s.sock, 0o700); err != nil {
		return nil, err
	}
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL must run as the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, d := range []string{dir, s.sock} {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, err
			}
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "labd",
		"--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	if err := s.start(); err != nil {
		s.stop(true)
		return nil, err
	}
	return s, nil
}

func (s *pgServer) start() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = exec.Command(filepath.Join(s.bin, "postgres"), "-D", filepath.Join(s.dir, "data"),
		"-p", strconv.Itoa(s.port), "-k", s.sock, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200")
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// Pdeathsig: a test binary that ends without StopPostgres (or is
	// killed) takes its server along.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(s.cmd, s.exited)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := pgx.Connect(ctx, s.dsn("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			return fmt.Errorf("postgres exited at start:\n%s", log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not accepting connections on port %d after 2 minutes: %v", s.port, err)
		}
	}
}

// stop shuts the server down fast (SIGINT: clients are cut off, no
// shutdown checkpoint wait for them) and, with remove, deletes its data.
func (s *pgServer) stop(remove bool) error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(time.Minute):
			_ = s.cmd.Process.Kill()
			<-s.exited
			err = fmt.Errorf("postgres did not stop within a minute")
		}
		s.cmd = nil
	}
	if remove {
		os.RemoveAll(s.dir)
	}
	return err
}
