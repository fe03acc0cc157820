"""Serving cnnviz to a class: the launcher of replicas behind HAProxy (class_server.py), a websocket client that
opens views like a browser tab (tab.py), the start-up warm-up (warmup.py), a Dockerfile and Kubernetes manifests
(k8s/). README: "Running it for a class"."""
