# The image every compose.yaml service runs (see its header). CPU torch, pinned as in the Makefile: an
# unpinned torch pulls gigabytes of CUDA. Editable install: Alembic reads migrations/ from the checkout.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY gatekeeper gatekeeper
COPY dashboards dashboards
COPY evalsets evalsets
COPY migrations migrations
COPY policies policies
COPY reports reports
COPY trainers trainers
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -e '.[train,dash]' \
 && useradd --create-home --uid 1000 gatekeeper && mkdir -p /data && chown gatekeeper /data
USER gatekeeper
EXPOSE 8000 8501
CMD ["gatekeeper", "--help"]
