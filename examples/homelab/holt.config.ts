/**
 * A whole homelab in one file: twenty services on one small box ("odroid",
 * a ZFS mirror called "tank") and a second machine for backups ("backup",
 * reached over SSH, with a pool called "vault").
 *
 * Every service follows the same pattern:
 *
 *   image     what runs, pinned to a version so that nothing changes by surprise
 *   state     its data, one ZFS dataset per entry: tank/holt/<service>/<entry>
 *   hostname  https://<hostname>.home.example.net, served by the host's Caddy
 *   port      where the app listens inside its container
 *   health    the HTTP path that says "I am up"; the route waits for it
 *
 * Services reach each other by name on the lab network: Immich finds its
 * database at "immich-db", Grafana finds Prometheus at "prometheus:9090".
 * Nothing else needs a port on the host.
 *
 * Run `holt validate` here to check it, `holt plan` to see what it would do.
 * See README.md beside this file, and docs/services.md for every field.
 */
import { defineLab, secret } from "holt";

// The config is TypeScript: name a thing once and derive the rest from it.
const domain = "home.example.net";
const url = (hostname: string): string => `https://${hostname}.${domain}`;
const TZ = "Europe/Amsterdam";

// Postgres stores 8K pages; a 16K recordsize keeps ZFS from rewriting 128K
// blocks for every small update. The same settings serve every database here.
const postgresData = { path: "/var/lib/postgresql/data", recordsize: "16K", compression: "lz4" };

export default defineLab({
  domain,
  hosts: {
    odroid: {
      connect: "local",
      // Service state lives under tank/holt/<service>/<entry>.
      stateRoot: "tank/holt",
      // The host's Caddy serves every hostname below over HTTPS. This is the
      // default address of its admin API, written out to show where it goes.
      proxy: { admin: "127.0.0.1:2019" },
      // Shared data that is not one service's state: declared once here, then
      // mounted into the services that use it (see `mounts`).
      datasets: {
        // Large files read start to end: 1M records, no access-time updates.
        "tank/media": { recordsize: "1M", compression: "lz4", atime: "off" },
        "tank/media/movies": {},
        "tank/media/shows": {},
        "tank/media/music": {},
        "tank/media/audiobooks": {},
        // Photos from before Immich, kept as they are; Immich reads them as an
        // external library and never writes to them.
        "tank/photos": { recordsize: "1M", compression: "lz4", atime: "off", quota: "2T" },
        // The scanner drops PDFs here; Paperless picks them up and deletes them.
        "tank/scans": { quota: "20G" },
      },
    },
    backup: {
      // A small machine in the cupboard. holt logs in as root with the default
      // key (~/.ssh/id_ed25519); the host must be in ~/.ssh/known_hosts.
      address: "192.168.1.30",
      connect: { ssh: { user: "root" } },
      datasets: {
        // Replicas of the odroid's datasets land here. Read-only, so nothing
        // but replication writes to them.
        "vault/replicas": { readonly: true, atime: "off" },
        // A cold archive: written once, read rarely, so compress hard.
        "vault/archive": { compression: "gzip", atime: "off" },
      },
    },
  },

  services: {
    // ─── Media ──────────────────────────────────────────────────────────────

    jellyfin: {
      host: "odroid",
      image: "docker.io/jellyfin/jellyfin:10.10.7",
      hostname: "media",
      port: 8096,
      // Runs as this user, and holt makes its state datasets owned by it.
      user: "1000:1000",
      state: {
        config: { path: "/config", quota: "20G" },
        // Transcodes and image cache: worth nothing in a backup, so no compression.
        cache: { path: "/cache", quota: "50G", compression: "off" },
      },
      // Jellyfin only reads the library.
      mounts: { "/media": { dataset: "tank/media", readOnly: true } },
      env: { TZ },
      health: { http: "/health" },
      resources: { memory: "4G" },
    },

    audiobookshelf: {
      host: "odroid",
      image: "ghcr.io/advplyr/audiobookshelf:2.20.0",
      hostname: "books",
      // The image listens on port 80 inside the container. Port 80 on the host
      // belongs to Caddy, so publish it on another loopback port.
      port: 80,
      hostPort: 13378,
      state: {
        config: { path: "/config", quota: "5G" },
        metadata: { path: "/metadata", quota: "20G" },
      },
      mounts: { "/audiobooks": { dataset: "tank/media/audiobooks", readOnly: true } },
      env: { TZ },
      health: { http: "/healthcheck" },
    },

    // ─── Photos: Immich is four containers ──────────────────────────────────
    // The server needs its database, its cache and the machine-learning
    // service. dependsOn makes holt start (and health-check) them first.

    "immich-db": {
      host: "odroid",
      // Immich's own Postgres build, with the vector extensions it needs.
      image: "ghcr.io/immich-app/postgres:14-vectorchord0.4.3-pgvectors0.2.0",
      state: { data: { ...postgresData, quota: "20G" } },
      env: {
        POSTGRES_USER: "immich",
        POSTGRES_DB: "immich",
        POSTGRES_INITDB_ARGS: "--data-checksums",
      },
      // Set once with `holt secrets set immich-db`; used again by the server below.
      secrets: { POSTGRES_PASSWORD: secret("immich-db") },
      // Immich's compose file gives this container 128 MB of /dev/shm; holt
      // cannot set that yet, so Podman's default of 64 MB applies.
      resources: { memory: "2G" },
    },

    "immich-redis": {
      host: "odroid",
      // A job queue only: Immich rebuilds it, so it keeps no state.
      image: "docker.io/valkey/valkey:8.1.3",
    },

    "immich-ml": {
      host: "odroid",
      image: "ghcr.io/immich-app/immich-machine-learning:v2.4.1",
      // No hostname: only the Immich server talks to it, over the lab network.
      // The port is published on the host's loopback for the health check.
      port: 3003,
      // Downloaded models: large, already compressed, easy to download again.
      state: { cache: { path: "/cache", quota: "20G", compression: "off" } },
      health: { http: "/ping" },
      resources: { memory: "4G" },
    },

    immich: {
      host: "odroid",
      image: "ghcr.io/immich-app/immich-server:v2.4.1",
      hostname: "photos",
      port: 2283,
      user: "1000:1000",
      state: {
        // Uploads, thumbnails and transcoded videos: photo-sized files.
        data: { path: "/data", recordsize: "1M", quota: "1T" },
      },
      // Add /mnt/photos as an external library in Immich's admin settings.
      mounts: { "/mnt/photos": { dataset: "tank/photos", readOnly: true } },
      env: {
        TZ,
        DB_HOSTNAME: "immich-db",
        DB_USERNAME: "immich",
        DB_DATABASE_NAME: "immich",
        REDIS_HOSTNAME: "immich-redis",
        IMMICH_MACHINE_LEARNING_URL: "http://immich-ml:3003",
      },
      secrets: { DB_PASSWORD: secret("immich-db") },
      health: { http: "/api/server/ping", timeout: "10s" },
      resources: { memory: "4G" },
      dependsOn: ["immich-db", "immich-redis", "immich-ml"],
    },

    // ─── Passwords ──────────────────────────────────────────────────────────

    vaultwarden: {
      host: "odroid",
      image: "docker.io/vaultwarden/server:1.34.1",
      hostname: "vault",
      // Vaultwarden binds a port above 1024 when it does not run as root.
      port: 8222,
      user: "1000:1000",
      state: { data: { path: "/data", quota: "5G" } },
      env: {
        ROCKET_PORT: 8222,
        DOMAIN: url("vault"),
        SIGNUPS_ALLOWED: false,
      },
      // The admin page's token. Store an Argon2 hash of it, made with
      // `vaultwarden hash`, rather than the plain token.
      secrets: { ADMIN_TOKEN: secret("vaultwarden-admin-token") },
      health: { http: "/alive" },
      resources: { memory: "512M" },
    },

    // ─── Home automation ────────────────────────────────────────────────────

    homeassistant: {
      host: "odroid",
      image: "ghcr.io/home-assistant/home-assistant:2025.4.4",
      hostname: "ha",
      port: 8123,
      state: { config: { path: "/config", quota: "20G" } },
      env: { TZ },
      // Home Assistant's own docs run it with host networking, so that it can
      // discover devices (mDNS, SSDP) and reach USB sticks. holt has no host
      // networking or device passthrough yet: here it runs on the lab network
      // like everything else, and integrations that rely on discovery must be
      // added by IP address. Behind Caddy it also needs, in configuration.yaml:
      //   http: { use_x_forwarded_for: true, trusted_proxies: [<lab network subnet>] }
      health: { http: "/manifest.json" },
      resources: { memory: "2G" },
    },

    // ─── Documents: Paperless-ngx with its own Postgres and Redis ───────────
    // One Postgres per app: the image creates one database and one role from
    // its environment on first start. A shared server would need a
    // `CREATE DATABASE` typed by hand, which is what holt exists to avoid.

    "paperless-db": {
      host: "odroid",
      image: "docker.io/library/postgres:16.9",
      state: { data: { ...postgresData, quota: "10G" } },
      env: {
        POSTGRES_USER: "paperless",
        POSTGRES_DB: "paperless",
        // Postgres reads the password from the secret's file.
        POSTGRES_PASSWORD_FILE: "/run/secrets/postgres-password",
      },
      // A key starting with "/" is a file in the container (mode 0400).
      secrets: { "/run/secrets/postgres-password": secret("paperless-db") },
    },

    "paperless-redis": {
      host: "odroid",
      image: "docker.io/library/redis:7.4.2-alpine",
      // Paperless keeps its task queue here; a small dataset keeps it across restarts.
      state: { data: { path: "/data", quota: "1G" } },
    },

    paperless: {
      host: "odroid",
      image: "ghcr.io/paperless-ngx/paperless-ngx:2.17.1",
      hostname: "docs",
      port: 8000,
      state: {
        data: { path: "/usr/src/paperless/data", quota: "10G" },
        media: { path: "/usr/src/paperless/media", quota: "200G" },
        export: { path: "/usr/src/paperless/export", quota: "200G" },
      },
      // Read-write: Paperless deletes each file once it has consumed it.
      mounts: { "/usr/src/paperless/consume": { dataset: "tank/scans" } },
      env: {
        PAPERLESS_URL: url("docs"),
        PAPERLESS_TIME_ZONE: TZ,
        PAPERLESS_OCR_LANGUAGE: "eng",
        PAPERLESS_REDIS: "redis://paperless-redis:6379",
        PAPERLESS_DBHOST: "paperless-db",
        PAPERLESS_DBUSER: "paperless",
        PAPERLESS_DBNAME: "paperless",
        // The image starts as root, takes this uid and gid, and fixes the
        // ownership of its folders itself, so `user` stays unset here.
        USERMAP_UID: 1000,
        USERMAP_GID: 1000,
      },
      secrets: {
        PAPERLESS_DBPASS: secret("paperless-db"),
        PAPERLESS_SECRET_KEY: secret("paperless-secret-key"),
      },
      // Redirects to the login page: a 3xx answer passes.
      health: { http: "/", timeout: "10s" },
      resources: { memory: "2G" },
      dependsOn: ["paperless-db", "paperless-redis"],
    },

    // ─── Code ───────────────────────────────────────────────────────────────

    forgejo: {
      host: "odroid",
      image: "codeberg.org/forgejo/forgejo:11.0.6",
      hostname: "git",
      port: 3000,
      // Git over SSH does not go through Caddy: the container's SSH server
      // (port 22) is published on port 2222 of every address of the host.
      ports: ["2222:22/tcp"],
      state: { data: { path: "/data", quota: "100G" } },
      env: {
        // The image starts its SSH server as root, then runs Forgejo as this user.
        USER_UID: 1000,
        USER_GID: 1000,
        // SQLite is Forgejo's default and plenty for one household.
        FORGEJO__database__DB_TYPE: "sqlite3",
        FORGEJO__server__ROOT_URL: `${url("git")}/`,
        FORGEJO__server__SSH_DOMAIN: `git.${domain}`,
        FORGEJO__server__SSH_PORT: 2222,
      },
      health: { http: "/api/healthz" },
      resources: { memory: "1G" },
    },

    // ─── Reading ────────────────────────────────────────────────────────────

    "miniflux-db": {
      host: "odroid",
      image: "docker.io/library/postgres:16.9",
      state: { data: { ...postgresData, quota: "5G" } },
      env: { POSTGRES_USER: "miniflux", POSTGRES_DB: "miniflux" },
      secrets: { POSTGRES_PASSWORD: secret("miniflux-db") },
    },

    miniflux: {
      host: "odroid",
      image: "docker.io/miniflux/miniflux:2.2.8",
      hostname: "rss",
      port: 8080,
      // Miniflux keeps everything in its database: no state of its own.
      env: {
        BASE_URL: url("rss"),
        RUN_MIGRATIONS: 1,
        CREATE_ADMIN: 1,
        ADMIN_USERNAME: "admin",
      },
      secrets: {
        // The whole URL is secret because it holds the password:
        // postgres://miniflux:<miniflux-db>@miniflux-db/miniflux?sslmode=disable
        DATABASE_URL: secret("miniflux-database-url"),
        ADMIN_PASSWORD: secret("miniflux-admin-password"),
      },
      health: { http: "/healthcheck" },
      resources: { memory: "256M" },
      dependsOn: ["miniflux-db"],
    },

    // ─── Network ────────────────────────────────────────────────────────────

    adguard: {
      host: "odroid",
      image: "docker.io/adguard/adguardhome:v0.107.64",
      hostname: "adguard",
      // The web interface. Keep it on port 3000 in AdGuard's first-run wizard.
      // Port 3000 on the host is Forgejo's, so publish it on 3080.
      port: 3000,
      hostPort: 3080,
      // DNS for the whole LAN, on every address of the host. On a machine
      // running systemd-resolved, free port 53 first (DNSStubListener=no).
      // Known limit: with Podman's netavark network stack, aardvark-dns holds
      // UDP 53 on each lab network's gateway, so Podman 4.3 cannot publish
      // "53/udp" on every address ("address already in use"); newer Podman can
      // move aardvark-dns (dns_bind_port in containers.conf). holt cannot yet
      // publish a port on one host address only.
      ports: ["53/tcp", "53/udp"],
      state: {
        work: { path: "/opt/adguardhome/work", quota: "5G" },
        conf: { path: "/opt/adguardhome/conf", quota: "100M" },
      },
      health: { http: "/" },
      resources: { memory: "512M" },
    },

    syncthing: {
      host: "odroid",
      image: "docker.io/syncthing/syncthing:1.29.2",
      hostname: "sync",
      port: 8384,
      // Device-to-device sync (TCP and QUIC) and local discovery must be
      // reachable from the LAN, not through the proxy.
      ports: ["22000/tcp", "22000/udp", "21027/udp"],
      state: { data: { path: "/var/syncthing", quota: "200G" } },
      // The image starts as root and switches to PUID:PGID.
      env: { PUID: 1000, PGID: 1000 },
      health: { http: "/rest/noauth/health" },
    },

    // ─── Watching the lab ───────────────────────────────────────────────────

    "uptime-kuma": {
      host: "odroid",
      image: "docker.io/louislam/uptime-kuma:1.23.16",
      hostname: "status",
      port: 3001,
      state: { data: { path: "/app/data", quota: "5G" } },
      health: { http: "/" },
      resources: { memory: "512M" },
    },

    prometheus: {
      host: "odroid",
      image: "docker.io/prom/prometheus:v3.5.0",
      hostname: "metrics",
      port: 9090,
      // The image runs as "nobody"; its data directory must be writable by it.
      user: "65534:65534",
      // `command` replaces the image's arguments: keep its config file (which
      // scrapes Prometheus itself) and keep 90 days of samples.
      command: [
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        "--storage.tsdb.retention.time=90d",
      ],
      state: { data: { path: "/prometheus", quota: "50G" } },
      health: { http: "/-/healthy" },
      resources: { memory: "1G" },
    },

    grafana: {
      host: "odroid",
      image: "docker.io/grafana/grafana:11.6.1",
      hostname: "grafana",
      // Grafana also listens on 3000 inside its container; containers each
      // have their own ports, only the host port must differ.
      port: 3000,
      hostPort: 3030,
      // The image's grafana user, in the root group as the image expects.
      user: "472:0",
      state: { data: { path: "/var/lib/grafana", quota: "5G" } },
      env: {
        GF_SERVER_ROOT_URL: url("grafana"),
        GF_SECURITY_ADMIN_USER: "admin",
        // Add Prometheus as a data source at http://prometheus:9090.
      },
      secrets: { GF_SECURITY_ADMIN_PASSWORD: secret("grafana-admin-password") },
      health: { http: "/api/health" },
      resources: { memory: "512M" },
      dependsOn: ["prometheus"],
    },

    // ─── Kitchen ────────────────────────────────────────────────────────────

    mealie: {
      host: "odroid",
      image: "ghcr.io/mealie-recipes/mealie:v2.4.2",
      hostname: "recipes",
      port: 9000,
      // SQLite in /app/data by default.
      state: { data: { path: "/app/data", quota: "10G" } },
      env: {
        TZ,
        BASE_URL: url("recipes"),
        ALLOW_SIGNUP: false,
        PUID: 1000,
        PGID: 1000,
      },
      health: { http: "/api/app/about" },
      resources: { memory: "1G" },
    },
  },
});
