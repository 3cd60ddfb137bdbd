# spoke's container image: built with the full Node 24 toolchain, run on distroless (node and
# glibc only: no shell, no npm) as the numeric non-root user, with a read-only root filesystem.
#   docker build -t ghcr.io/spoke-proxy/spoke:$(node -p 'require("./package.json").version') .
# test/image.test.ts replays these stages outside Docker by reading this file:
# keep COPY as `COPY [--from=STAGE] SRC... DEST` and ENTRYPOINT/CMD in JSON form.

# ---- build: every dependency, then tsc into dist/
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- prod: a clean install of the production dependencies beside the compiled code
FROM node:24-bookworm-slim AS prod
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY bin ./bin
COPY --from=build /src/dist ./dist

# ---- runtime
FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
COPY --from=prod /app /app
# distroless's "nonroot"; numeric so that Kubernetes' runAsNonRoot can check it.
USER 65532:65532
EXPOSE 9901
# The V8 flag of bin/spoke.js's shebang, given to node directly: distroless has no `env -S`.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=4", "/app/bin/spoke.js"]
CMD ["run", "-c", "/etc/spoke/spoke.yaml"]
