# The school-sync server for docker-compose.yml. It talks to the Postgres given by DATABASE_URL; the embedded
# Postgres of `npm start` on a bare machine is not used in a container.
#
# SYNC_JWT_SECRET must be supplied at run time (32+ characters, e.g. `openssl rand -base64 48`), the same for
# every node and for sync-admin: the server listens on 0.0.0.0 here, and without the secret it refuses to
# start (exit 2). No secret is baked into the image; never set it with ENV or ARG here.

FROM node:20-slim AS deps
WORKDIR /app
# The desk's Electron binary is never needed on a server, should it ever become a dependency.
ENV ELECTRON_SKIP_BINARY_DOWNLOAD=1
# better-sqlite3 (a dependency for the desk) downloads a prebuilt binary and compiles from source only when
# none matches this platform: the toolchain for that stays in this build stage.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# Runtime dependencies only: `npm start` is `tsx server/main.ts`, and tsx is one of them.
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production \
  ELECTRON_SKIP_BINARY_DOWNLOAD=1 \
  NPM_CONFIG_UPDATE_NOTIFIER=false \
  HOST=0.0.0.0 \
  PORT=8080
COPY --from=deps /app/node_modules ./node_modules
COPY . .
USER node
EXPOSE 8080
# npm passes SIGTERM on to the server, which stops capture and closes its sockets before exiting.
CMD ["npm", "start"]
