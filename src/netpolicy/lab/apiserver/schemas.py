"""OpenAPI v3 schemas of the kinds we serve, written as compact Python data.

One set of schemas serves three purposes, so they cannot disagree:
- the OpenAPI documents kubectl downloads (`explain`, and the PATCH operations whose
  `fieldValidation` parameter tells kubectl to leave validation to the server);
- decoding (`decode.py`): unknown fields (`fieldValidation=Strict|Warn|Ignore`), JSON types
  and pruning, as the API server's typed decoding does;
- strategic merge patch (`patch.py`): `x-kubernetes-patch-merge-key` and
  `x-kubernetes-patch-strategy` on the lists and maps that merge.

The schemas follow the upstream types (`k8s.io/api`) and their names, trimmed: the parts of
a pod spec that the lab does not use in depth (security contexts, affinity, volume sources
beyond the common ones, most of the status types) are objects that keep unknown fields
(`x-kubernetes-preserve-unknown-fields`) so that real manifests still decode.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
CORE = "io.k8s.api.core.v1."
APPS = "io.k8s.api.apps.v1."
NET = "io.k8s.api.networking.v1."
DISC = "io.k8s.api.discovery.v1."
EVENTS = "io.k8s.api.events.v1."
AUTOSCALING = "io.k8s.api.autoscaling.v1."
EXT = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


def string(description: str = "", enum: tuple[str, ...] = (), fmt: str = "") -> Schema:
    s: Schema = {"type": "string", "default": ""}
    if description:
        s["description"] = description
    if enum:
        s["enum"] = list(enum)
    if fmt:
        s["format"] = fmt
    return s


def integer(description: str = "", fmt: str = "int32") -> Schema:
    s: Schema = {"type": "integer", "format": fmt}
    if description:
        s["description"] = description
    return s


def boolean(description: str = "") -> Schema:
    s: Schema = {"type": "boolean"}
    if description:
        s["description"] = description
    return s


def ref(name: str, description: str = "") -> Schema:
    s: Schema = {"allOf": [{"$ref": f"#/components/schemas/{name}"}]}
    if description:
        s["description"] = description
    return s


def array(items: Schema, description: str = "", *, merge_key: str = "",
          strategy: str = "", list_type: str = "", map_keys: tuple[str, ...] = ()) -> Schema:
    s: Schema = {"type": "array", "items": items}
    if description:
        s["description"] = description
    if merge_key:
        s["x-kubernetes-patch-merge-key"] = merge_key
    if strategy:
        s["x-kubernetes-patch-strategy"] = strategy
    if list_type:
        s["x-kubernetes-list-type"] = list_type
    if map_keys:
        s["x-kubernetes-list-map-keys"] = list(map_keys)
    return s


def strings(description: str = "", *, strategy: str = "") -> Schema:
    return array(string(), description, strategy=strategy, list_type="atomic"
                 if not strategy else "set")


def string_map(description: str = "") -> Schema:
    s: Schema = {"type": "object", "additionalProperties": string()}
    if description:
        s["description"] = description
    return s


def quantity_map(description: str = "") -> Schema:
    s: Schema = {"type": "object", "additionalProperties": ref(QUANTITY)}
    if description:
        s["description"] = description
    return s


def obj(description: str, props: dict[str, Schema], required: tuple[str, ...] = (), *,
        gvk: tuple[str, str, str] | None = None, open_: bool = False,
        strategy: str = "") -> Schema:
    s: Schema = {"type": "object", "description": description, "properties": props}
    if required:
        s["required"] = list(required)
    if gvk:
        s["x-kubernetes-group-version-kind"] = [
            {"group": gvk[0], "version": gvk[1], "kind": gvk[2]}]
    if open_:
        s["x-kubernetes-preserve-unknown-fields"] = True
    if strategy:
        s["x-kubernetes-patch-strategy"] = strategy
    return s


def _kind(description: str, spec: str | None, status: str | None, gvk: tuple[str, str, str],
          **extra: Schema) -> Schema:
    props: dict[str, Schema] = {
        "apiVersion": string("APIVersion defines the versioned schema of this representation "
                             "of an object."),
        "kind": string("Kind is a string value representing the REST resource this object "
                       "represents."),
        "metadata": ref(META + "ObjectMeta", "Standard object's metadata."),
    }
    if spec:
        props["spec"] = ref(spec, "Specification of the desired behavior.")
    if status:
        props["status"] = ref(status, "Most recently observed status. Read-only.")
    props.update(extra)
    return obj(description, props, gvk=gvk)


def _meta() -> dict[str, Schema]:
    return {
        META + "ObjectMeta": obj(
            "ObjectMeta is metadata that all persisted resources must have.", {
                "name": string("Name must be unique within a namespace."),
                "generateName": string("An optional prefix, used by the server, to generate "
                                       "a unique name ONLY IF the Name field has not been "
                                       "provided."),
                "namespace": string("Namespace defines the space within which each name "
                                    "must be unique."),
                "selfLink": string("Deprecated."),
                "uid": string("UID is the unique in time and space value for this object."),
                "resourceVersion": string("An opaque value that represents the internal "
                                          "version of this object."),
                "generation": integer("A sequence number representing a specific generation "
                                      "of the desired state.", "int64"),
                "creationTimestamp": ref(META + "Time", "The time this object was created."),
                "deletionTimestamp": ref(META + "Time", "The time this object will be "
                                         "deleted."),
                "deletionGracePeriodSeconds": integer("Seconds allowed for graceful "
                                                      "termination.", "int64"),
                "labels": string_map("Map of string keys and values that can be used to "
                                     "organize and categorize objects."),
                "annotations": string_map("Annotations is an unstructured key value map."),
                "ownerReferences": array(ref(META + "OwnerReference"),
                                         "List of objects depended by this object.",
                                         merge_key="uid", strategy="merge",
                                         list_type="map", map_keys=("uid",)),
                "finalizers": strings("Must be empty before the object is deleted from the "
                                      "registry.", strategy="merge"),
                "managedFields": array(obj("ManagedFieldsEntry", {}, open_=True),
                                       "Field management information.", list_type="atomic"),
            }),
        META + "OwnerReference": obj(
            "OwnerReference contains enough information to let you identify an owning "
            "object.", {
                "apiVersion": string("API version of the referent."),
                "kind": string("Kind of the referent."),
                "name": string("Name of the referent."),
                "uid": string("UID of the referent."),
                "controller": boolean("If true, this reference points to the managing "
                                      "controller."),
                "blockOwnerDeletion": boolean("If true, the owner cannot be deleted before "
                                              "this object."),
            }, ("apiVersion", "kind", "name", "uid")),
        META + "LabelSelector": obj(
            "A label selector is a label query over a set of resources. The result of "
            "matchLabels and matchExpressions are ANDed. An empty label selector matches all "
            "objects. A null label selector matches no objects.", {
                "matchLabels": string_map("matchLabels is a map of {key,value} pairs. A single "
                                          "{key,value} in the matchLabels map is equivalent to "
                                          "an element of matchExpressions, whose key field is "
                                          "\"key\", the operator is \"In\", and the values "
                                          "array contains only \"value\"."),
                "matchExpressions": array(ref(META + "LabelSelectorRequirement"),
                                          "matchExpressions is a list of label selector "
                                          "requirements. The requirements are ANDed.",
                                          list_type="atomic"),
            }),
        META + "LabelSelectorRequirement": obj(
            "A label selector requirement is a selector that contains values, a key, and an "
            "operator that relates the key and values.", {
                "key": string("key is the label key that the selector applies to."),
                "operator": string("operator represents a key's relationship to a set of "
                                   "values. Valid operators are In, NotIn, Exists and "
                                   "DoesNotExist."),
                "values": strings("values is an array of string values."),
            }, ("key", "operator")),
        META + "Time": {"type": "string", "format": "date-time",
                        "description": "Time is a wrapper around time.Time (RFC 3339)."},
        META + "MicroTime": {"type": "string", "format": "date-time",
                             "description": "MicroTime is version of Time with microsecond "
                                            "level precision."},
        QUANTITY: {"type": "string", "description": "Quantity is a fixed-point representation "
                   "of a number (e.g. 100m, 1Gi)."},
        INT_OR_STRING: {"type": "string", "format": "int-or-string",
                        "description": "IntOrString is a type that can hold an int32 or a "
                                       "string."},
    }


def _pod() -> dict[str, Schema]:
    open_obj: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    handler = {
        "exec": obj("ExecAction", {"command": strings("Command line to execute.")}),
        "httpGet": obj("HTTPGetAction", {
            "path": string("Path to access on the HTTP server."),
            "port": ref(INT_OR_STRING, "Name or number of the port."),
            "host": string(), "scheme": string(),
            "httpHeaders": array(obj("HTTPHeader", {"name": string(), "value": string()}),
                                 list_type="atomic")}, ("port",)),
        "tcpSocket": obj("TCPSocketAction", {"port": ref(INT_OR_STRING), "host": string()},
                         ("port",)),
    }
    probe = {**handler,
             "grpc": obj("GRPCAction", {"port": integer(), "service": string()}, ("port",)),
             "initialDelaySeconds": integer(), "timeoutSeconds": integer(),
             "periodSeconds": integer(), "successThreshold": integer(),
             "failureThreshold": integer(), "terminationGracePeriodSeconds": integer(fmt="int64")}
    lifecycle_handler = {**handler, "sleep": obj("SleepAction", {"seconds": integer(fmt="int64")})}
    key_ref = {"name": string(), "key": string(), "optional": boolean()}
    container_props: dict[str, Schema] = {
        "name": string("Name of the container specified as a DNS_LABEL."),
        "image": string("Container image name."),
        "command": strings("Entrypoint array. Not executed within a shell."),
        "args": strings("Arguments to the entrypoint."),
        "workingDir": string("Container's working directory."),
        "ports": array(ref(CORE + "ContainerPort"), "List of ports to expose from the "
                       "container.", merge_key="containerPort", strategy="merge",
                       list_type="map", map_keys=("containerPort", "protocol")),
        "envFrom": array(obj("EnvFromSource", {
            "prefix": string(),
            "configMapRef": obj("ConfigMapEnvSource", {"name": string(),
                                                       "optional": boolean()}),
            "secretRef": obj("SecretEnvSource", {"name": string(), "optional": boolean()}),
        }), "List of sources to populate environment variables in the container.",
            list_type="atomic"),
        "env": array(ref(CORE + "EnvVar"), "List of environment variables to set in the "
                     "container.", merge_key="name", strategy="merge", list_type="map",
                     map_keys=("name",)),
        "resources": obj("ResourceRequirements describes the compute resource requirements.", {
            "limits": quantity_map(), "requests": quantity_map(),
            "claims": array(obj("ResourceClaim", {"name": string(), "request": string()}),
                            list_type="map", map_keys=("name",))}),
        "resizePolicy": array(obj("ContainerResizePolicy", {
            "resourceName": string(), "restartPolicy": string()}), list_type="atomic"),
        "restartPolicy": string("RestartPolicy defines the restart behavior of individual "
                                "containers in a pod."),
        "volumeMounts": array(obj("VolumeMount", {
            "name": string(), "mountPath": string(), "readOnly": boolean(),
            "recursiveReadOnly": string(), "subPath": string(), "subPathExpr": string(),
            "mountPropagation": string()}, ("name", "mountPath")),
            "Pod volumes to mount into the container's filesystem.", merge_key="mountPath",
            strategy="merge", list_type="map", map_keys=("mountPath",)),
        "volumeDevices": array(obj("VolumeDevice", {"name": string(), "devicePath": string()}),
                               merge_key="devicePath", strategy="merge", list_type="map",
                               map_keys=("devicePath",)),
        "livenessProbe": obj("Probe", probe),
        "readinessProbe": obj("Probe", probe),
        "startupProbe": obj("Probe", probe),
        "lifecycle": obj("Lifecycle", {"postStart": obj("LifecycleHandler", lifecycle_handler),
                                       "preStop": obj("LifecycleHandler", lifecycle_handler),
                                       "stopSignal": string()}),
        "terminationMessagePath": string(),
        "terminationMessagePolicy": string(),
        "imagePullPolicy": string("Image pull policy. One of Always, Never, IfNotPresent."),
        "securityContext": {**open_obj, "description": "SecurityContext defines the security "
                            "options the container should be run with."},
        "stdin": boolean(), "stdinOnce": boolean(), "tty": boolean(),
    }
    volume_sources = {
        "emptyDir": obj("EmptyDirVolumeSource", {"medium": string(),
                                                 "sizeLimit": ref(QUANTITY)}),
        "hostPath": obj("HostPathVolumeSource", {"path": string(), "type": string()}),
        "configMap": {**open_obj, "description": "ConfigMap volume source."},
        "secret": {**open_obj, "description": "Secret volume source."},
        "persistentVolumeClaim": obj("PersistentVolumeClaimVolumeSource",
                                     {"claimName": string(), "readOnly": boolean()}),
        "projected": {**open_obj, "description": "Projected volume source."},
        "downwardAPI": {**open_obj, "description": "DownwardAPI volume source."},
    }
    return {
        CORE + "Pod": _kind("Pod is a collection of containers that can run on a host.",
                            CORE + "PodSpec", CORE + "PodStatus", ("", "v1", "Pod")),
        CORE + "PodTemplateSpec": obj(
            "PodTemplateSpec describes the data a pod should have when created from a "
            "template.", {"metadata": ref(META + "ObjectMeta", "Standard object's metadata."),
                          "spec": ref(CORE + "PodSpec", "Specification of the desired "
                                      "behavior of the pod.")}),
        CORE + "PodSpec": obj("PodSpec is a description of a pod.", {
            "volumes": array(ref(CORE + "Volume"), "List of volumes that can be mounted by "
                             "containers belonging to the pod.", merge_key="name",
                             strategy="merge,retainKeys", list_type="map", map_keys=("name",)),
            "initContainers": array(ref(CORE + "Container"), "List of initialization "
                                    "containers.", merge_key="name", strategy="merge",
                                    list_type="map", map_keys=("name",)),
            "containers": array(ref(CORE + "Container"), "List of containers belonging to "
                                "the pod.", merge_key="name", strategy="merge",
                                list_type="map", map_keys=("name",)),
            "ephemeralContainers": array({**open_obj}, merge_key="name", strategy="merge",
                                         list_type="map", map_keys=("name",)),
            "restartPolicy": string("Restart policy for all containers within the pod. One of "
                                    "Always, OnFailure, Never.",
                                    ("Always", "Never", "OnFailure")),
            "terminationGracePeriodSeconds": integer(fmt="int64"),
            "activeDeadlineSeconds": integer(fmt="int64"),
            "dnsPolicy": string("Set DNS policy for the pod."),
            "nodeSelector": string_map("NodeSelector is a selector which must be true for the "
                                       "pod to fit on a node."),
            "serviceAccountName": string("Name of the ServiceAccount to use to run this pod."),
            "serviceAccount": string("Deprecated: use serviceAccountName instead."),
            "automountServiceAccountToken": boolean(),
            "nodeName": string("NodeName indicates in which node this pod is scheduled."),
            "hostNetwork": boolean("Host networking requested for this pod."),
            "hostPID": boolean(), "hostIPC": boolean(), "shareProcessNamespace": boolean(),
            "securityContext": {**open_obj, "description": "SecurityContext holds pod-level "
                                "security attributes."},
            "imagePullSecrets": array(obj("LocalObjectReference", {"name": string()}),
                                      merge_key="name", strategy="merge", list_type="map",
                                      map_keys=("name",)),
            "hostname": string(), "subdomain": string(),
            "affinity": {**open_obj, "description": "If specified, the pod's scheduling "
                         "constraints."},
            "schedulerName": string(),
            "tolerations": array(obj("Toleration", {
                "key": string(), "operator": string(), "value": string(), "effect": string(),
                "tolerationSeconds": integer(fmt="int64")}), list_type="atomic"),
            "hostAliases": array(obj("HostAlias", {"ip": string(), "hostnames": strings()}),
                                 merge_key="ip", strategy="merge", list_type="map",
                                 map_keys=("ip",)),
            "priorityClassName": string(), "priority": integer(),
            "dnsConfig": {**open_obj},
            "readinessGates": array(obj("PodReadinessGate", {"conditionType": string()},
                                        ("conditionType",)), list_type="atomic"),
            "runtimeClassName": string(), "enableServiceLinks": boolean(),
            "preemptionPolicy": string(), "overhead": quantity_map(),
            "topologySpreadConstraints": array({**open_obj}, merge_key="topologyKey",
                                               strategy="merge", list_type="map",
                                               map_keys=("topologyKey", "whenUnsatisfiable")),
            "setHostnameAsFQDN": boolean(),
            "os": obj("PodOS", {"name": string()}),
            "hostUsers": boolean(),
            "schedulingGates": array(obj("PodSchedulingGate", {"name": string()}),
                                     merge_key="name", strategy="merge", list_type="map",
                                     map_keys=("name",)),
            "resourceClaims": array({**open_obj}, merge_key="name",
                                    strategy="merge,retainKeys", list_type="map",
                                    map_keys=("name",)),
            "resources": {**open_obj},
        }, ("containers",)),
        CORE + "Container": obj("A single application container that you want to run within "
                                "a pod.", container_props, ("name",)),
        CORE + "ContainerPort": obj("ContainerPort represents a network port in a single "
                                    "container.", {
            "name": string("If specified, this must be an IANA_SVC_NAME and unique within the "
                           "pod. Each named port in a pod must have a unique name."),
            "hostPort": integer(), "containerPort": integer("Number of port to expose on the "
                                                            "pod's IP address."),
            "protocol": string("Protocol for port. Must be UDP, TCP, or SCTP. Defaults to "
                               "\"TCP\".", ("SCTP", "TCP", "UDP")),
            "hostIP": string()}, ("containerPort",)),
        CORE + "EnvVar": obj("EnvVar represents an environment variable present in a "
                             "Container.", {
            "name": string("Name of the environment variable."),
            "value": string(),
            "valueFrom": obj("EnvVarSource", {
                "fieldRef": obj("ObjectFieldSelector", {"apiVersion": string(),
                                                        "fieldPath": string()}),
                "resourceFieldRef": obj("ResourceFieldSelector", {
                    "containerName": string(), "resource": string(),
                    "divisor": ref(QUANTITY)}),
                "configMapKeyRef": obj("ConfigMapKeySelector", key_ref),
                "secretKeyRef": obj("SecretKeySelector", key_ref),
            })}, ("name",)),
        CORE + "Volume": obj("Volume represents a named volume in a pod.",
                             {"name": string("name of the volume."), **volume_sources},
                             ("name",), open_=True),
        CORE + "PodStatus": obj("PodStatus represents information about the status of a pod.", {
            "phase": string("The phase of a Pod is a simple, high-level summary of where the "
                            "Pod is in its lifecycle.",
                            ("Failed", "Pending", "Running", "Succeeded", "Unknown")),
            "conditions": array({**open_obj}, "Current service state of pod.",
                                merge_key="type", strategy="merge", list_type="map",
                                map_keys=("type",)),
            "message": string(), "reason": string(), "nominatedNodeName": string(),
            "hostIP": string(), "hostIPs": array({**open_obj}, list_type="atomic"),
            "podIP": string("IP address allocated to the pod."),
            "podIPs": array(obj("PodIP", {"ip": string()}), merge_key="ip",
                            strategy="merge", list_type="map", map_keys=("ip",)),
            "startTime": ref(META + "Time"),
            "initContainerStatuses": array({**open_obj}, list_type="atomic"),
            "containerStatuses": array({**open_obj}, list_type="atomic"),
            "ephemeralContainerStatuses": array({**open_obj}, list_type="atomic"),
            "qosClass": string(),
        }, open_=True),
    }


def _workloads() -> dict[str, Schema]:
    selector = ref(META + "LabelSelector", "Label selector for pods. Existing ReplicaSets "
                   "whose pods are selected by this will be the ones affected by this "
                   "deployment.")
    conditions = array({"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                       merge_key="type", strategy="merge", list_type="map",
                       map_keys=("type",))
    return {
        APPS + "Deployment": _kind("Deployment enables declarative updates for Pods and "
                                   "ReplicaSets.", APPS + "DeploymentSpec",
                                   APPS + "DeploymentStatus", ("apps", "v1", "Deployment")),
        APPS + "DeploymentSpec": obj("DeploymentSpec is the specification of the desired "
                                     "behavior of the Deployment.", {
            "replicas": integer("Number of desired pods. Defaults to 1."),
            "selector": selector,
            "template": ref(CORE + "PodTemplateSpec", "Template describes the pods that will "
                            "be created."),
            "strategy": obj("DeploymentStrategy describes how to replace existing pods with "
                            "new ones.", {
                "type": string("Type of deployment. Can be \"Recreate\" or \"RollingUpdate\"."),
                "rollingUpdate": obj("RollingUpdateDeployment", {
                    "maxUnavailable": ref(INT_OR_STRING), "maxSurge": ref(INT_OR_STRING)})},
                strategy="retainKeys"),
            "minReadySeconds": integer(), "revisionHistoryLimit": integer(),
            "paused": boolean(), "progressDeadlineSeconds": integer(),
        }, ("selector", "template")),
        APPS + "DeploymentStatus": obj("DeploymentStatus is the most recently observed status "
                                       "of the Deployment.", {
            "observedGeneration": integer(fmt="int64"), "replicas": integer(),
            "updatedReplicas": integer(), "readyReplicas": integer(),
            "availableReplicas": integer(), "unavailableReplicas": integer(),
            "terminatingReplicas": integer(),
            "conditions": conditions, "collisionCount": integer()}),
        APPS + "ReplicaSet": _kind("ReplicaSet ensures that a specified number of pod replicas "
                                   "are running at any given time.", APPS + "ReplicaSetSpec",
                                   APPS + "ReplicaSetStatus", ("apps", "v1", "ReplicaSet")),
        APPS + "ReplicaSetSpec": obj("ReplicaSetSpec is the specification of a ReplicaSet.", {
            "replicas": integer("Replicas is the number of desired pods."),
            "minReadySeconds": integer(),
            "selector": ref(META + "LabelSelector", "Selector is a label query over pods that "
                            "should match the replica count."),
            "template": ref(CORE + "PodTemplateSpec"),
        }, ("selector",)),
        APPS + "ReplicaSetStatus": obj("ReplicaSetStatus represents the current status of a "
                                       "ReplicaSet.", {
            "replicas": integer(), "fullyLabeledReplicas": integer(),
            "readyReplicas": integer(), "availableReplicas": integer(),
            "terminatingReplicas": integer(),
            "observedGeneration": integer(fmt="int64"), "conditions": conditions}),
        AUTOSCALING + "Scale": _kind("Scale represents a scaling request for a resource.",
                                     AUTOSCALING + "ScaleSpec", AUTOSCALING + "ScaleStatus",
                                     ("autoscaling", "v1", "Scale")),
        AUTOSCALING + "ScaleSpec": obj("ScaleSpec describes the attributes of a scale "
                                       "subresource.", {"replicas": integer("desired number "
                                                                            "of instances")}),
        AUTOSCALING + "ScaleStatus": obj("ScaleStatus represents the current status of a scale "
                                         "subresource.", {"replicas": integer(),
                                                          "selector": string()}),
    }


def _services() -> dict[str, Schema]:
    open_obj: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    port_props = {"name": string(), "port": integer(), "protocol": string(),
                  "appProtocol": string()}
    return {
        CORE + "Service": _kind("Service is a named abstraction of software service consisting "
                                "of local port that the proxy listens on, and the selector "
                                "that determines which pods will answer requests sent through "
                                "the proxy.", CORE + "ServiceSpec", CORE + "ServiceStatus",
                                ("", "v1", "Service")),
        CORE + "ServiceSpec": obj("ServiceSpec describes the attributes that a user creates on "
                                  "a service.", {
            "ports": array(ref(CORE + "ServicePort"), "The list of ports that are exposed by "
                           "this service.", merge_key="port", strategy="merge",
                           list_type="map", map_keys=("port", "protocol")),
            "selector": string_map("Route service traffic to pods with label keys and values "
                                   "matching this selector."),
            "clusterIP": string("clusterIP is the IP address of the service."),
            "clusterIPs": strings(),
            "type": string("type determines how the Service is exposed.",
                           ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")),
            "externalIPs": strings(), "sessionAffinity": string(),
            "loadBalancerIP": string(), "loadBalancerSourceRanges": strings(),
            "externalName": string(), "externalTrafficPolicy": string(),
            "healthCheckNodePort": integer(), "publishNotReadyAddresses": boolean(),
            "sessionAffinityConfig": {**open_obj}, "ipFamilies": strings(),
            "ipFamilyPolicy": string(), "allocateLoadBalancerNodePorts": boolean(),
            "loadBalancerClass": string(), "internalTrafficPolicy": string(),
            "trafficDistribution": string(),
        }),
        CORE + "ServicePort": obj("ServicePort contains information on service's port.", {
            **port_props,
            "targetPort": ref(INT_OR_STRING, "Number or name of the port to access on the pods "
                              "targeted by the service."),
            "nodePort": integer()}, ("port",)),
        CORE + "ServiceStatus": obj("ServiceStatus represents the current status of a service.",
                                    {"loadBalancer": {**open_obj},
                                     "conditions": array({**open_obj}, merge_key="type",
                                                         strategy="merge", list_type="map",
                                                         map_keys=("type",))}),
        CORE + "Endpoints": _kind("Endpoints is a collection of endpoints that implement the "
                                  "actual service.", None, None, ("", "v1", "Endpoints"),
                                  subsets=array(ref(CORE + "EndpointSubset"),
                                                "The set of all endpoints.",
                                                list_type="atomic")),
        CORE + "EndpointSubset": obj("EndpointSubset is a group of addresses with a common set "
                                     "of ports.", {
            "addresses": array(ref(CORE + "EndpointAddress"), list_type="atomic"),
            "notReadyAddresses": array(ref(CORE + "EndpointAddress"), list_type="atomic"),
            "ports": array(obj("EndpointPort", port_props, ("port",)), list_type="atomic")}),
        CORE + "EndpointAddress": obj("EndpointAddress is a tuple that describes single IP "
                                      "address.", {
            "ip": string(), "hostname": string(), "nodeName": string(),
            "targetRef": ref(CORE + "ObjectReference")}, ("ip",)),
        CORE + "ObjectReference": obj("ObjectReference contains enough information to let you "
                                      "inspect or modify the referred object.", {
            "kind": string(), "namespace": string(), "name": string(), "uid": string(),
            "apiVersion": string(), "resourceVersion": string(), "fieldPath": string()}),
        DISC + "EndpointSlice": _kind(
            "EndpointSlice represents a set of service endpoints.", None, None,
            ("discovery.k8s.io", "v1", "EndpointSlice"),
            addressType=string("addressType specifies the type of address carried by this "
                               "EndpointSlice."),
            endpoints=array(obj("Endpoint represents a single logical backend.", {
                "addresses": strings(), "conditions": obj("EndpointConditions", {
                    "ready": boolean(), "serving": boolean(), "terminating": boolean()}),
                "hostname": string(), "targetRef": ref(CORE + "ObjectReference"),
                "deprecatedTopology": string_map(), "nodeName": string(), "zone": string(),
                "hints": {**open_obj}}, ("addresses",)), list_type="atomic"),
            ports=array(obj("EndpointPort", port_props), list_type="atomic")),
    }


def _networking() -> dict[str, Schema]:
    selector = META + "LabelSelector"
    return {
        NET + "NetworkPolicy": _kind(
            "NetworkPolicy describes what network traffic is allowed for a set of Pods",
            NET + "NetworkPolicySpec", None, ("networking.k8s.io", "v1", "NetworkPolicy")),
        NET + "NetworkPolicySpec": obj(
            "NetworkPolicySpec provides the specification of a NetworkPolicy", {
                "podSelector": ref(selector, "podSelector selects the pods to which this "
                                   "NetworkPolicy object applies. The array of rules is "
                                   "applied to any pods selected by this field. An empty "
                                   "selector matches all pods in the policy's namespace. "
                                   "Multiple network policies can select the same set of pods. "
                                   "In this case, the ingress rules for each are combined "
                                   "additively. This field is optional. If it is not specified, "
                                   "it defaults to an empty selector."),
                "ingress": array(ref(NET + "NetworkPolicyIngressRule"),
                                 "ingress is a list of ingress rules to be applied to the "
                                 "selected pods. Traffic is allowed to a pod if there are no "
                                 "NetworkPolicies selecting the pod (and cluster policy "
                                 "otherwise allows the traffic), OR if the traffic source is "
                                 "the pod's local node, OR if the traffic matches at least one "
                                 "ingress rule across all of the NetworkPolicy objects whose "
                                 "podSelector matches the pod. If this field is empty then "
                                 "this NetworkPolicy does not allow any traffic (and serves "
                                 "solely to ensure that the pods it selects are isolated by "
                                 "default)", list_type="atomic"),
                "egress": array(ref(NET + "NetworkPolicyEgressRule"),
                                "egress is a list of egress rules to be applied to the "
                                "selected pods. Outgoing traffic is allowed if there are no "
                                "NetworkPolicies selecting the pod (and cluster policy "
                                "otherwise allows the traffic), OR if the traffic matches at "
                                "least one egress rule across all of the NetworkPolicy "
                                "objects whose podSelector matches the pod. If this field is "
                                "empty then this NetworkPolicy limits all outgoing traffic "
                                "(and serves solely to ensure that the pods it selects are "
                                "isolated by default).", list_type="atomic"),
                "policyTypes": array(string(enum=("Egress", "Ingress")),
                                     "policyTypes is a list of rule types that the "
                                     "NetworkPolicy relates to. Valid options are "
                                     "[\"Ingress\"], [\"Egress\"], or [\"Ingress\", "
                                     "\"Egress\"]. If this field is not specified, it will "
                                     "default based on the existence of ingress or egress "
                                     "rules; policies that contain an egress section are "
                                     "assumed to affect egress, and all policies (whether or "
                                     "not they contain an ingress section) are assumed to "
                                     "affect ingress.", list_type="atomic"),
            }),
        NET + "NetworkPolicyIngressRule": obj(
            "NetworkPolicyIngressRule describes a particular set of traffic that is allowed to "
            "the pods matched by a NetworkPolicySpec's podSelector. The traffic must match "
            "both ports and from.", {
                "ports": array(ref(NET + "NetworkPolicyPort"), "ports is a list of ports which "
                               "should be made accessible on the pods selected for this rule. "
                               "Each item in this list is combined using a logical OR. If this "
                               "field is empty or missing, this rule matches all ports.",
                               list_type="atomic"),
                "from": array(ref(NET + "NetworkPolicyPeer"), "from is a list of sources which "
                              "should be able to access the pods selected for this rule. "
                              "Items in this list are combined using a logical OR operation. "
                              "If this field is empty or missing, this rule matches all "
                              "sources (traffic not restricted by source).",
                              list_type="atomic"),
            }),
        NET + "NetworkPolicyEgressRule": obj(
            "NetworkPolicyEgressRule describes a particular set of traffic that is allowed out "
            "of pods matched by a NetworkPolicySpec's podSelector. The traffic must match "
            "both ports and to.", {
                "ports": array(ref(NET + "NetworkPolicyPort"), "ports is a list of destination "
                               "ports for outgoing traffic. If this field is empty or missing, "
                               "this rule matches all ports.", list_type="atomic"),
                "to": array(ref(NET + "NetworkPolicyPeer"), "to is a list of destinations for "
                            "outgoing traffic of pods selected for this rule. If this field is "
                            "empty or missing, this rule matches all destinations.",
                            list_type="atomic"),
            }),
        NET + "NetworkPolicyPeer": obj(
            "NetworkPolicyPeer describes a peer to allow traffic to/from. Only certain "
            "combinations of fields are allowed", {
                "podSelector": ref(selector, "podSelector is a label selector which selects "
                                   "pods. If namespaceSelector is also set, then the "
                                   "NetworkPolicyPeer as a whole selects the pods matching "
                                   "podSelector in the Namespaces selected by "
                                   "NamespaceSelector. Otherwise it selects the pods matching "
                                   "podSelector in the policy's own namespace."),
                "namespaceSelector": ref(selector, "namespaceSelector selects namespaces using "
                                         "cluster-scoped labels. This field follows standard "
                                         "label selector semantics; if present but empty, it "
                                         "selects all namespaces."),
                "ipBlock": ref(NET + "IPBlock", "ipBlock defines policy on a particular "
                               "IPBlock. If this field is set then neither of the other fields "
                               "can be."),
            }),
        NET + "NetworkPolicyPort": obj(
            "NetworkPolicyPort describes a port to allow traffic on", {
                "protocol": string("protocol represents the protocol (TCP, UDP, or SCTP) which "
                                   "traffic must match. If not specified, this field defaults "
                                   "to TCP.", ("SCTP", "TCP", "UDP")),
                "port": ref(INT_OR_STRING, "port represents the port on the given protocol. "
                            "This can either be a numerical or named port on a pod. If this "
                            "field is not provided, this matches all port names and numbers. "
                            "If present, only traffic on the specified protocol AND port will "
                            "be matched."),
                "endPort": integer("endPort indicates that the range of ports from port to "
                                   "endPort if set, inclusive, should be allowed by the policy. "
                                   "This field cannot be defined if the port field is not "
                                   "defined or if the port field is defined as a named "
                                   "(string) port. The endPort must be equal or greater than "
                                   "port."),
            }),
        NET + "IPBlock": obj(
            "IPBlock describes a particular CIDR (Ex. \"192.168.1.0/24\",\"2001:db8::/64\") "
            "that is allowed to the pods matched by a NetworkPolicySpec's podSelector. The "
            "except entry describes CIDRs that should not be included within this rule.", {
                "cidr": string("cidr is a string representing the IPBlock Valid examples are "
                               "\"192.168.1.0/24\" or \"2001:db8::/64\""),
                "except": strings("except is a slice of CIDRs that should not be included "
                                  "within an IPBlock Valid examples are \"192.168.1.0/24\" or "
                                  "\"2001:db8::/64\" Except values will be rejected if they "
                                  "are outside the cidr range"),
            }, ("cidr",)),
    }


def _cluster() -> dict[str, Schema]:
    open_obj: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    event_props: dict[str, Schema] = {
        "involvedObject": ref(CORE + "ObjectReference", "The object that this event is "
                              "about."),
        "reason": string("This should be a short, machine understandable string that gives "
                         "the reason for the transition into the object's current status."),
        "message": string("A human-readable description of the status of this operation."),
        "source": obj("EventSource contains information for an event.",
                      {"component": string(), "host": string()}),
        "firstTimestamp": ref(META + "Time"), "lastTimestamp": ref(META + "Time"),
        "count": integer(), "type": string("Type of this event (Normal, Warning)."),
        "eventTime": ref(META + "MicroTime"), "series": {**open_obj},
        "action": string(), "related": ref(CORE + "ObjectReference"),
        "reportingComponent": string(), "reportingInstance": string(),
    }
    return {
        CORE + "Namespace": _kind("Namespace provides a scope for Names.",
                                  CORE + "NamespaceSpec", CORE + "NamespaceStatus",
                                  ("", "v1", "Namespace")),
        CORE + "NamespaceSpec": obj("NamespaceSpec describes the attributes on a Namespace.",
                                    {"finalizers": strings("Finalizers is an opaque list of "
                                                           "values that must be empty to "
                                                           "permanently remove object from "
                                                           "storage.")}),
        CORE + "NamespaceStatus": obj("NamespaceStatus is information about the current status "
                                      "of a Namespace.", {
            "phase": string("Phase is the current lifecycle phase of the namespace.",
                            ("Active", "Terminating")),
            "conditions": array({**open_obj}, merge_key="type", strategy="merge",
                                list_type="map", map_keys=("type",))}),
        CORE + "Node": _kind("Node is a worker node in Kubernetes.", CORE + "NodeSpec",
                             CORE + "NodeStatus", ("", "v1", "Node")),
        CORE + "NodeSpec": obj("NodeSpec describes the attributes that a node is created "
                               "with.", {
            "podCIDR": string(), "podCIDRs": strings(strategy="merge"), "providerID": string(),
            "unschedulable": boolean(), "taints": array({**open_obj}, list_type="atomic"),
            "configSource": {**open_obj}, "externalID": string()}),
        CORE + "NodeStatus": obj("NodeStatus is information about the current status of a "
                                 "node.", {
            "capacity": quantity_map(), "allocatable": quantity_map(), "phase": string(),
            "conditions": array({**open_obj}, merge_key="type", strategy="merge",
                                list_type="map", map_keys=("type",)),
            "addresses": array(obj("NodeAddress", {"type": string(), "address": string()}),
                               merge_key="type", strategy="merge", list_type="map",
                               map_keys=("type",)),
            "daemonEndpoints": {**open_obj}, "nodeInfo": {**open_obj},
            "images": array({**open_obj}, list_type="atomic"),
            "volumesInUse": strings(), "volumesAttached": array({**open_obj},
                                                                list_type="atomic"),
            "config": {**open_obj}, "runtimeHandlers": array({**open_obj},
                                                             list_type="atomic"),
            "features": {**open_obj}}, open_=True),
        CORE + "ServiceAccount": _kind(
            "ServiceAccount binds together a name, a principal that can be authenticated and "
            "authorized, and a set of secrets.", None, None, ("", "v1", "ServiceAccount"),
            secrets=array(ref(CORE + "ObjectReference"), merge_key="name", strategy="merge",
                          list_type="map", map_keys=("name",)),
            imagePullSecrets=array(obj("LocalObjectReference", {"name": string()}),
                                   list_type="atomic"),
            automountServiceAccountToken=boolean()),
        CORE + "ConfigMap": _kind("ConfigMap holds configuration data for pods to consume.",
                                  None, None, ("", "v1", "ConfigMap"),
                                  data=string_map(), binaryData=string_map(),
                                  immutable=boolean()),
        CORE + "Event": _kind("Event is a report of an event somewhere in the cluster.", None,
                              None, ("", "v1", "Event"), **event_props),
        EVENTS + "Event": _kind(
            "Event is a report of an event somewhere in the cluster.", None, None,
            ("events.k8s.io", "v1", "Event"),
            eventTime=ref(META + "MicroTime"), series={**open_obj},
            reportingController=string(), reportingInstance=string(), action=string(),
            reason=string(), regarding=ref(CORE + "ObjectReference"),
            related=ref(CORE + "ObjectReference"), note=string(), type=string(),
            deprecatedSource=obj("EventSource", {"component": string(), "host": string()}),
            deprecatedFirstTimestamp=ref(META + "Time"),
            deprecatedLastTimestamp=ref(META + "Time"), deprecatedCount=integer()),
    }


def _extensions() -> dict[str, Schema]:
    """CustomResourceDefinition; a version's schema (JSONSchemaProps) is kept as given."""
    open_obj: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    names = obj("CustomResourceDefinitionNames indicates the names to serve this "
                "CustomResourceDefinition", {
                    "plural": string("plural is the plural name of the resource to serve."),
                    "singular": string("singular is the singular name of the resource."),
                    "kind": string("kind is the serialized kind of the resource."),
                    "listKind": string("listKind is the serialized kind of the list for this "
                                       "resource."),
                    "shortNames": strings("shortNames are short names for the resource, "
                                          "exposed in API discovery documents."),
                    "categories": strings("categories is a list of grouped resources this "
                                          "custom resource belongs to (e.g. 'all')."),
                }, ("plural", "kind"))
    column = obj("CustomResourceColumnDefinition specifies a column for server side "
                 "printing.", {
                     "name": string("name is a human readable name for the column."),
                     "type": string("type is an OpenAPI type definition for this column."),
                     "format": string("format is an optional OpenAPI type definition for this "
                                      "column."),
                     "description": string("description is a human readable description of "
                                           "this column."),
                     "priority": integer("priority is an integer defining the relative "
                                         "importance of this column compared to others."),
                     "jsonPath": string("jsonPath is a simple JSON path (i.e. with array "
                                        "notation) which is evaluated against each custom "
                                        "resource to produce the value for this column."),
                 }, ("name", "type", "jsonPath"))
    version = obj("CustomResourceDefinitionVersion describes a version for CRD.", {
        "name": string("name is the version name, e.g. \"v1\", \"v2beta1\", etc."),
        "served": boolean("served is a flag enabling/disabling this version from being served "
                          "via REST APIs"),
        "storage": boolean("storage indicates this version should be used when persisting "
                           "custom resources to storage."),
        "deprecated": boolean("deprecated indicates this version of the custom resource API "
                              "is deprecated."),
        "deprecationWarning": string("deprecationWarning overrides the default warning "
                                     "returned to API clients."),
        "schema": obj("CustomResourceValidation is a list of validation methods for "
                      "CustomResources.", {
                          "openAPIV3Schema": {**open_obj, "description": "openAPIV3Schema is "
                                              "the OpenAPI v3 schema to use for validation "
                                              "and pruning."}}),
        "subresources": obj("CustomResourceSubresources defines the status and scale "
                            "subresources for CustomResources.", {
                                "status": {**open_obj, "description": "status indicates the "
                                           "custom resource should serve a `/status` "
                                           "subresource."},
                                "scale": {**open_obj, "description": "scale indicates the "
                                          "custom resource should serve a `/scale` "
                                          "subresource."}}),
        "additionalPrinterColumns": array(column, "additionalPrinterColumns specifies "
                                          "additional columns returned in Table output.",
                                          list_type="atomic"),
        "selectableFields": array(obj("SelectableField specifies the JSON path of a field "
                                      "that may be used with field selectors.",
                                      {"jsonPath": string()}, ("jsonPath",)),
                                  list_type="atomic"),
    }, ("name", "served", "storage"))
    return {
        EXT + "CustomResourceDefinition": _kind(
            "CustomResourceDefinition represents a resource that should be exposed on the API "
            "server. Its name MUST be in the format <.spec.name>.<.spec.group>.",
            EXT + "CustomResourceDefinitionSpec", EXT + "CustomResourceDefinitionStatus",
            ("apiextensions.k8s.io", "v1", "CustomResourceDefinition")),
        EXT + "CustomResourceDefinitionSpec": obj(
            "CustomResourceDefinitionSpec describes how a user wants their resource to "
            "appear", {
                "group": string("group is the API group of the defined custom resource."),
                "names": names,
                "scope": string("scope indicates whether the defined custom resource is "
                                "cluster- or namespace-scoped. Allowed values are `Cluster` "
                                "and `Namespaced`."),
                "versions": array(version, "versions is the list of all API versions of the "
                                  "defined custom resource.", list_type="atomic"),
                "conversion": {**open_obj, "description": "conversion defines conversion "
                               "settings for the CRD."},
                "preserveUnknownFields": boolean("preserveUnknownFields indicates that object "
                                                 "fields which are not specified in the "
                                                 "OpenAPI schema should be preserved when "
                                                 "persisting to storage."),
            }, ("group", "names", "scope", "versions")),
        EXT + "CustomResourceDefinitionStatus": obj(
            "CustomResourceDefinitionStatus indicates the state of the "
            "CustomResourceDefinition", {
                "conditions": array({**open_obj}, "conditions indicate state for particular "
                                    "aspects of a CustomResourceDefinition",
                                    merge_key="type", strategy="merge", list_type="map",
                                    map_keys=("type",)),
                "acceptedNames": {**open_obj, "description": "acceptedNames are the names "
                                  "that are actually being used to serve discovery."},
                "storedVersions": strings("storedVersions lists all versions of "
                                          "CustomResources that were ever persisted."),
            }, open_=True),
    }


def _build() -> dict[str, Schema]:
    schemas: dict[str, Schema] = {}
    for part in (_meta, _pod, _workloads, _services, _networking, _cluster, _extensions):
        schemas.update(part())
    return schemas


SCHEMAS: dict[str, Schema] = _build()

# The schema of each kind, by (apiVersion, kind).
KIND_SCHEMAS: dict[tuple[str, str], str] = {}
for _name, _schema in SCHEMAS.items():
    for _gvk in _schema.get("x-kubernetes-group-version-kind", ()):
        _av = f"{_gvk['group']}/{_gvk['version']}" if _gvk["group"] else _gvk["version"]
        KIND_SCHEMAS[(_av, _gvk["kind"])] = _name


def resolve(schema: Schema) -> Schema:
    """Follow `$ref` / `allOf: [$ref]` to the named schema (descriptions are dropped)."""
    while True:
        if "$ref" in schema:
            schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def for_kind(api_version: str, kind: str) -> Schema | None:
    name = KIND_SCHEMAS.get((api_version, kind))
    return SCHEMAS[name] if name else None


def referenced(names: list[str]) -> dict[str, Schema]:
    """The named schemas and every schema they reference, transitively."""
    out: dict[str, Schema] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = SCHEMAS[name]
        todo.extend(_refs(SCHEMAS[name]))
    return out


def _refs(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append(value.rsplit("/", 1)[1])
            else:
                found.extend(_refs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_refs(item))
    return found
