// gowebhook is the Go standard-library peer of hyperplace's webhook for bench/: a mutating
// admission webhook written the way most Go webhooks are (net/http over crypto/tls,
// encoding/json into the k8s.io/api types), doing the JSON work any such webhook does for each
// review: decode the AdmissionReview and the Pod or Job in it, add the Kueue queue-name label
// when it is missing, and answer with the JSON Patch. It applies none of hyperplace's rules; the
// bench checks its answers for the request's uid and a decision only, and compares throughput.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const queueLabel = "kueue.x-k8s.io/queue-name"

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// labelsOf decodes the object as its kind's type, as a typed webhook does, and returns its labels.
func labelsOf(req *admissionv1.AdmissionRequest) (map[string]string, error) {
	switch req.Kind.Kind {
	case "Job":
		var job batchv1.Job
		if err := json.Unmarshal(req.Object.Raw, &job); err != nil {
			return nil, err
		}
		return job.Labels, nil
	default:
		var pod corev1.Pod
		if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
			return nil, err
		}
		return pod.Labels, nil
	}
}

func mutate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, "malformed AdmissionReview", http.StatusBadRequest)
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	labels, err := labelsOf(review.Request)
	if err != nil {
		resp.Allowed = false
		resp.Result = &metav1.Status{Code: http.StatusBadRequest, Message: err.Error()}
	} else if _, ok := labels[queueLabel]; !ok && strings.HasPrefix(review.Request.Namespace, "hyperpod-ns-") {
		var ops []patchOp
		if labels == nil {
			ops = append(ops, patchOp{Op: "add", Path: "/metadata/labels", Value: map[string]string{}})
		}
		ops = append(ops, patchOp{Op: "add", Path: "/metadata/labels/kueue.x-k8s.io~1queue-name",
			Value: review.Request.Namespace + "-localqueue"})
		patch, _ := json.Marshal(ops)
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
	}
	out, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "host:port")
	cert := flag.String("tls-cert", "", "server certificate (PEM)")
	key := flag.String("tls-key", "", "its key (PEM)")
	flag.Parse()
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gowebhook:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mutate", mutate)
	server := &http.Server{
		Addr:              *listen,
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	log.Fatal(server.ListenAndServeTLS("", ""))
}
