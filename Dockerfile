# roomrunner: webhook server + orchestrator. Node 24 LTS, production deps only, non-root.
# No build step: TypeScript runs through tsx (a runtime dependency), so the image ships the sources.
# Two modes, picked by the command: `serve` (the default CMD) for an external project service or project webhooks;
# `node bin/roomrunner.js join` for a container project service (joins from the MESHAGENT_* env the platform injects).
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production MESHAGENT_PORT=8080 ROOMRUNNER_DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY agents ./agents
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
# `join` serves no HTTP: in container mode (MESHAGENT_ROOM and MESHAGENT_TOKEN set) the process itself is the check.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "if(process.env.MESHAGENT_ROOM&&process.env.MESHAGENT_TOKEN)process.exit(0);fetch('http://127.0.0.1:'+(process.env.MESHAGENT_PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "bin/roomrunner.js", "serve"]
