package fakeaws

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/foobar/webstack/internal/awsapi"
)

// api is one of the two Query APIs served.
type api struct {
	service   string // SigV4 service name
	version   string
	namespace string
	// invalid is the code of an error of the Cloud that is no APIError.
	invalid   string
	ec2Errors bool // EC2's error document rather than Auto Scaling's
}

var (
	autoscalingAPI = api{service: "autoscaling", version: awsapi.AutoScalingAPIVersion, namespace: AutoScalingNamespace, invalid: "ValidationError"}
	ec2API         = api{service: "ec2", version: awsapi.EC2APIVersion, namespace: EC2Namespace, invalid: "InvalidParameterValue", ec2Errors: true}
)

// query serves one Query API call.
func (h *handler) query(w http.ResponseWriter, r *http.Request, a api) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, a, http.StatusBadRequest, "MalformedQueryString", "reading the request body: "+err.Error())
		return
	}
	if len(body) > maxBody {
		writeError(w, a, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the request body is larger than 1 MiB")
		return
	}
	if code, msg := checkAuth(r, body, a.service); code != "" {
		writeError(w, a, http.StatusForbidden, code, msg)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeError(w, a, http.StatusBadRequest, "MalformedQueryString", "the body is no form: "+err.Error())
		return
	}
	action := form.Get("Action")
	if action == "" {
		writeError(w, a, http.StatusBadRequest, "MissingAction", "no Action parameter")
		return
	}
	if v := form.Get("Version"); v != a.version {
		writeError(w, a, http.StatusBadRequest, "NoSuchVersion",
			fmt.Sprintf("the requested version (%s) of service %s does not exist: use %s", v, a.service, a.version))
		return
	}
	var serve func(r *http.Request, p params) (any, error)
	if a.service == ec2API.service {
		serve = h.ec2Actions(action)
	} else {
		serve = h.autoscalingActions(action)
	}
	if serve == nil {
		writeError(w, a, http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("the action %s is not valid for this web service (%s)", action, a.service))
		return
	}
	out, err := serve(r, params(form))
	if err != nil {
		var e *awsapi.APIError
		if errors.As(err, &e) {
			status := e.StatusCode
			if status < 400 || status > 599 {
				status = http.StatusBadRequest
			}
			writeError(w, a, status, e.Code, e.Message)
		} else {
			writeError(w, a, http.StatusBadRequest, a.invalid, err.Error())
		}
		return
	}
	writeXML(w, http.StatusOK, out)
}

// params are a call's form parameters.
type params url.Values

// required is a parameter that must be there.
func (p params) required(name string) (string, error) {
	v := url.Values(p).Get(name)
	if v == "" {
		return "", &awsapi.APIError{
			Code:       "ValidationError",
			Message:    fmt.Sprintf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", name),
			StatusCode: http.StatusBadRequest,
		}
	}
	return v, nil
}

// integer is an integer parameter; def when absent.
func (p params) integer(name string, def int) (int, error) {
	v := url.Values(p).Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, &awsapi.APIError{
			Code:       "ValidationError",
			Message:    fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must be an integer", v, name),
			StatusCode: http.StatusBadRequest,
		}
	}
	return n, nil
}

// list is a list parameter, prefix.1, prefix.2, … in order.
func (p params) list(prefix string) []string {
	type item struct {
		n int
		v string
	}
	var items []item
	for k, vs := range p {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok || len(vs) == 0 {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 {
			continue
		}
		items = append(items, item{n, vs[0]})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].n < items[j].n })
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.v)
	}
	return out
}

// Auto Scaling answers.

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type asgInstanceXML struct {
	InstanceID       string `xml:"InstanceId"`
	InstanceType     string `xml:"InstanceType,omitempty"`
	AvailabilityZone string `xml:"AvailabilityZone"`
	LifecycleState   string `xml:"LifecycleState"`
	HealthStatus     string `xml:"HealthStatus"`
	LaunchTemplate   *struct {
		Version string `xml:"Version"`
	} `xml:"LaunchTemplate,omitempty"`
	ProtectedFromScaleIn bool `xml:"ProtectedFromScaleIn"`
}

type asgGroupXML struct {
	Name            string           `xml:"AutoScalingGroupName"`
	MinSize         int              `xml:"MinSize"`
	MaxSize         int              `xml:"MaxSize"`
	DesiredCapacity int              `xml:"DesiredCapacity"`
	Instances       []asgInstanceXML `xml:"Instances>member"`
	HealthCheckType string           `xml:"HealthCheckType"`
}

type describeGroupsXML struct {
	XMLName xml.Name `xml:"DescribeAutoScalingGroupsResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Groups struct {
			Members []asgGroupXML `xml:"member"`
		} `xml:"AutoScalingGroups"`
	} `xml:"DescribeAutoScalingGroupsResult"`
	Meta responseMetadata `xml:"ResponseMetadata"`
}

type startRefreshXML struct {
	XMLName xml.Name `xml:"StartInstanceRefreshResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		ID string `xml:"InstanceRefreshId"`
	} `xml:"StartInstanceRefreshResult"`
	Meta responseMetadata `xml:"ResponseMetadata"`
}

type refreshXML struct {
	ID                   string `xml:"InstanceRefreshId"`
	AutoScalingGroupName string `xml:"AutoScalingGroupName"`
	Status               string `xml:"Status"`
	PercentageComplete   int    `xml:"PercentageComplete"`
}

type describeRefreshesXML struct {
	XMLName xml.Name `xml:"DescribeInstanceRefreshesResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Refreshes struct {
			Members []refreshXML `xml:"member"`
		} `xml:"InstanceRefreshes"`
	} `xml:"DescribeInstanceRefreshesResult"`
	Meta responseMetadata `xml:"ResponseMetadata"`
}

// emptyXML is the answer of an action that returns nothing: <Action>Response
// with an empty <Action>Result (if result) and the request id.
type emptyXML struct {
	action    string
	result    bool
	requestID string
}

// MarshalXML writes the answer.
func (e emptyXML) MarshalXML(enc *xml.Encoder, _ xml.StartElement) error {
	start := xml.StartElement{
		Name: xml.Name{Local: e.action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: AutoScalingNamespace}},
	}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	if e.result {
		result := xml.StartElement{Name: xml.Name{Local: e.action + "Result"}}
		if err := enc.EncodeToken(result); err != nil {
			return err
		}
		if err := enc.EncodeToken(result.End()); err != nil {
			return err
		}
	}
	if err := enc.EncodeElement(responseMetadata{e.requestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}); err != nil {
		return err
	}
	return enc.EncodeToken(start.End())
}

func emptyAnswer(action string, withResult bool) emptyXML {
	return emptyXML{action: action, result: withResult, requestID: requestID()}
}

// autoscalingActions is the server of one Auto Scaling action, nil if
// unknown.
func (h *handler) autoscalingActions(action string) func(*http.Request, params) (any, error) {
	c := h.cloud
	switch action {
	case "DescribeAutoScalingGroups":
		return func(r *http.Request, p params) (any, error) {
			out := describeGroupsXML{Xmlns: AutoScalingNamespace, Meta: responseMetadata{requestID()}}
			for _, name := range p.list("AutoScalingGroupNames.member") {
				g, err := c.DescribeGroup(r.Context(), name)
				var e *awsapi.APIError
				if errors.As(err, &e) && e.Code == "ValidationError" {
					continue // AWS lists no unknown group, without error
				}
				if err != nil {
					return nil, err
				}
				out.Result.Groups.Members = append(out.Result.Groups.Members, groupXML(g))
			}
			return out, nil
		}
	case "CompleteLifecycleAction":
		return func(r *http.Request, p params) (any, error) {
			group, hook, id, result, err := lifecycleParams(p, true)
			if err != nil {
				return nil, err
			}
			if err := c.CompleteLifecycleAction(r.Context(), group, hook, id, result); err != nil {
				return nil, err
			}
			return emptyAnswer(action, true), nil
		}
	case "RecordLifecycleActionHeartbeat":
		return func(r *http.Request, p params) (any, error) {
			group, hook, id, _, err := lifecycleParams(p, false)
			if err != nil {
				return nil, err
			}
			if err := c.RecordLifecycleActionHeartbeat(r.Context(), group, hook, id); err != nil {
				return nil, err
			}
			return emptyAnswer(action, true), nil
		}
	case "SetInstanceHealth":
		return func(r *http.Request, p params) (any, error) {
			id, err := p.required("InstanceId")
			if err != nil {
				return nil, err
			}
			status, err := p.required("HealthStatus")
			if err != nil {
				return nil, err
			}
			respect := true // the API's default
			if v := url.Values(p).Get("ShouldRespectGracePeriod"); v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return nil, &awsapi.APIError{Code: "ValidationError", Message: fmt.Sprintf("ShouldRespectGracePeriod %q is no boolean", v), StatusCode: http.StatusBadRequest}
				}
				respect = b
			}
			if err := c.SetInstanceHealth(r.Context(), id, status, respect); err != nil {
				return nil, err
			}
			return emptyAnswer(action, false), nil
		}
	case "SetDesiredCapacity":
		return func(r *http.Request, p params) (any, error) {
			group, err := p.required("AutoScalingGroupName")
			if err != nil {
				return nil, err
			}
			if _, err := p.required("DesiredCapacity"); err != nil {
				return nil, err
			}
			desired, err := p.integer("DesiredCapacity", 0)
			if err != nil {
				return nil, err
			}
			if err := c.SetDesiredCapacity(r.Context(), group, desired); err != nil {
				return nil, err
			}
			return emptyAnswer(action, false), nil
		}
	case "StartInstanceRefresh":
		return func(r *http.Request, p params) (any, error) {
			group, err := p.required("AutoScalingGroupName")
			if err != nil {
				return nil, err
			}
			if s := url.Values(p).Get("Strategy"); s != "" && s != "Rolling" && s != "ReplaceRootVolume" {
				return nil, &awsapi.APIError{Code: "ValidationError", Message: fmt.Sprintf("Strategy %q must be Rolling", s), StatusCode: http.StatusBadRequest}
			}
			minHealthy, err := p.integer("Preferences.MinHealthyPercentage", 90)
			if err != nil {
				return nil, err
			}
			maxHealthy, err := p.integer("Preferences.MaxHealthyPercentage", 0)
			if err != nil {
				return nil, err
			}
			id, err := c.StartInstanceRefresh(r.Context(), group, minHealthy, maxHealthy)
			if err != nil {
				return nil, err
			}
			out := startRefreshXML{Xmlns: AutoScalingNamespace, Meta: responseMetadata{requestID()}}
			out.Result.ID = id
			return out, nil
		}
	case "DescribeInstanceRefreshes":
		return func(r *http.Request, p params) (any, error) {
			group, err := p.required("AutoScalingGroupName")
			if err != nil {
				return nil, err
			}
			refreshes, err := c.DescribeInstanceRefreshes(r.Context(), group)
			if err != nil {
				return nil, err
			}
			out := describeRefreshesXML{Xmlns: AutoScalingNamespace, Meta: responseMetadata{requestID()}}
			for _, rf := range refreshes {
				out.Result.Refreshes.Members = append(out.Result.Refreshes.Members, refreshXML{
					ID: rf.ID, AutoScalingGroupName: group, Status: rf.Status, PercentageComplete: rf.PercentageComplete,
				})
			}
			return out, nil
		}
	}
	return nil
}

// lifecycleParams are the parameters of CompleteLifecycleAction (with a
// result) and RecordLifecycleActionHeartbeat.
func lifecycleParams(p params, withResult bool) (group, hook, id, result string, err error) {
	if group, err = p.required("AutoScalingGroupName"); err != nil {
		return
	}
	if hook, err = p.required("LifecycleHookName"); err != nil {
		return
	}
	if id = url.Values(p).Get("InstanceId"); id == "" && url.Values(p).Get("LifecycleActionToken") == "" {
		err = &awsapi.APIError{Code: "ValidationError", Message: "either InstanceId or LifecycleActionToken must be given", StatusCode: http.StatusBadRequest}
		return
	}
	if id == "" {
		err = &awsapi.APIError{Code: "ValidationError", Message: "this fake identifies lifecycle actions by InstanceId only", StatusCode: http.StatusBadRequest}
		return
	}
	if withResult {
		result, err = p.required("LifecycleActionResult")
	}
	return
}

func groupXML(g awsapi.Group) asgGroupXML {
	out := asgGroupXML{Name: g.Name, MinSize: g.MinSize, MaxSize: g.MaxSize, DesiredCapacity: g.DesiredCapacity, HealthCheckType: "EC2"}
	for _, i := range g.Instances {
		x := asgInstanceXML{
			InstanceID: i.InstanceID, InstanceType: "t3.micro", AvailabilityZone: i.AvailabilityZone,
			LifecycleState: i.LifecycleState, HealthStatus: i.HealthStatus,
		}
		if i.LaunchTemplateVersion != "" {
			x.LaunchTemplate = &struct {
				Version string `xml:"Version"`
			}{i.LaunchTemplateVersion}
		}
		out.Instances = append(out.Instances, x)
	}
	return out
}

// EC2 answers.

type ec2InstanceXML struct {
	InstanceID string `xml:"instanceId"`
	State      struct {
		Code int    `xml:"code"`
		Name string `xml:"name"`
	} `xml:"instanceState"`
	PrivateIP string `xml:"privateIpAddress,omitempty"`
	Placement struct {
		AvailabilityZone string `xml:"availabilityZone"`
	} `xml:"placement"`
}

type reservationXML struct {
	ReservationID string           `xml:"reservationId"`
	OwnerID       string           `xml:"ownerId"`
	Instances     []ec2InstanceXML `xml:"instancesSet>item"`
}

type describeInstancesXML struct {
	XMLName      xml.Name `xml:"DescribeInstancesResponse"`
	Xmlns        string   `xml:"xmlns,attr"`
	RequestID    string   `xml:"requestId"`
	Reservations struct {
		Items []reservationXML `xml:"item"`
	} `xml:"reservationSet"`
}

// stateCodes are EC2's codes of instance states.
var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

// ec2Actions is the server of one EC2 action, nil if unknown.
func (h *handler) ec2Actions(action string) func(*http.Request, params) (any, error) {
	if action != "DescribeInstances" {
		return nil
	}
	return func(r *http.Request, p params) (any, error) {
		ids := p.list("InstanceId")
		instances, err := h.cloud.DescribeInstances(r.Context(), ids)
		if err != nil {
			return nil, err
		}
		out := describeInstancesXML{Xmlns: EC2Namespace, RequestID: requestID()}
		for _, i := range instances {
			x := ec2InstanceXML{InstanceID: i.InstanceID, PrivateIP: i.PrivateIP}
			x.State.Name, x.State.Code = i.State, stateCodes[i.State]
			x.Placement.AvailabilityZone = i.AvailabilityZone
			out.Reservations.Items = append(out.Reservations.Items, reservationXML{
				ReservationID: "r-" + strings.TrimPrefix(i.InstanceID, "i-"),
				OwnerID:       "123456789012",
				Instances:     []ec2InstanceXML{x},
			})
		}
		return out, nil
	}
}

// Errors.

type asgErrorXML struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

type ec2ErrorXML struct {
	XMLName xml.Name `xml:"Response"`
	Errors  struct {
		Error struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
	} `xml:"Errors"`
	RequestID string `xml:"RequestID"`
}

// writeError answers an error in a's error document.
func writeError(w http.ResponseWriter, a api, status int, code, message string) {
	if a.ec2Errors {
		var e ec2ErrorXML
		e.Errors.Error.Code, e.Errors.Error.Message, e.RequestID = code, message, requestID()
		writeXML(w, status, e)
		return
	}
	e := asgErrorXML{Xmlns: AutoScalingNamespace, RequestID: requestID()}
	e.Error.Type = "Sender"
	if status >= 500 {
		e.Error.Type = "Receiver"
	}
	e.Error.Code, e.Error.Message = code, message
	writeXML(w, status, e)
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "fakeaws: encoding the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(b)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(b)
}
