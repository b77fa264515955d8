/* The workflow builder: add, remove and reorder steps, switch a step's action, and on submit
 * put the whole workflow into the one hidden `definition` field, in the API's JSON shape:
 * {"name", "description", "is_active", "steps": [{"key", "action", "integration": id|null, "params": {...}}]}
 * No framework; the server renders the steps, this file only edits them. */
(function () {
  "use strict";

  var form = document.getElementById("workflow-form");
  var stepsEl = document.getElementById("steps");
  var template = document.getElementById("step-template");
  if (!form || !stepsEl || !template) {
    return;
  }
  var integrationsEl = document.getElementById("workflow-integrations");
  var integrations = integrationsEl ? JSON.parse(integrationsEl.textContent) : [];
  var definitionField = document.getElementById("workflow-definition-field");
  var noSteps = document.getElementById("no-steps");
  // The label of the empty account choice, per integration type: the workspace default it means.
  var defaultLabelsEl = document.getElementById("workflow-default-accounts");
  var defaultLabels = defaultLabelsEl ? JSON.parse(defaultLabelsEl.textContent) : {};

  function steps() {
    return Array.prototype.filter.call(stepsEl.children, function (el) {
      return el.classList.contains("step");
    });
  }

  function renumber() {
    var all = steps();
    all.forEach(function (step, index) {
      step.dataset.index = String(index);
      step.querySelector(".step-number").textContent = String(index + 1);
      step.querySelector('[data-move="up"]').disabled = index === 0;
      step.querySelector('[data-move="down"]').disabled = index === all.length - 1;
    });
    if (noSteps) {
      noSteps.hidden = all.length > 0;
    }
  }

  function actionSelect(step) {
    return step.querySelector('select[name="action"]');
  }

  function activeFieldset(step) {
    var action = actionSelect(step).value;
    var found = null;
    step.querySelectorAll("fieldset[data-action]").forEach(function (fieldset) {
      if (fieldset.dataset.action === action) {
        found = fieldset;
      }
    });
    return found;
  }

  function showFieldset(step) {
    var active = activeFieldset(step);
    step.querySelectorAll("fieldset[data-action]").forEach(function (fieldset) {
      fieldset.hidden = fieldset !== active;
      fieldset.disabled = fieldset !== active;
    });
  }

  // The account select offers the workspace's accounts of the type the chosen action needs.
  function fillIntegrations(step) {
    var select = step.querySelector('select[name="integration"]');
    var option = actionSelect(step).selectedOptions[0];
    var action = option ? option.value : "";
    var type = actionTypes[action] || "";
    var current = select.value;
    select.replaceChildren(new Option(defaultLabels[type] || "Workspace default", ""));
    integrations.forEach(function (integration) {
      if (integration.type === type) {
        select.add(new Option(integration.label, String(integration.id)));
      }
    });
    select.value = Array.prototype.some.call(select.options, function (o) { return o.value === current; })
      ? current
      : "";
  }

  // Which integration type each action needs, read from the server-rendered options' data.
  var actionTypes = {};
  template.content.querySelectorAll('select[name="action"] option').forEach(function (option) {
    actionTypes[option.value] = option.dataset.integrationType || "";
  });

  function clearErrors(container) {
    container.querySelectorAll(".errorlist").forEach(function (list) { list.remove(); });
    container.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
  }

  document.getElementById("add-step").addEventListener("click", function () {
    var step = template.content.firstElementChild.cloneNode(true);
    stepsEl.appendChild(step);
    renumber();
    var first = step.querySelector("fieldset:not([hidden]) input, fieldset:not([hidden]) textarea");
    step.scrollIntoView({ block: "nearest" });
    if (first) {
      first.focus();
    }
  });

  stepsEl.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button || !stepsEl.contains(button)) {
      return;
    }
    var step = button.closest(".step");
    if (button.hasAttribute("data-remove")) {
      step.remove();
    } else if (button.dataset.move === "up" && step.previousElementSibling) {
      stepsEl.insertBefore(step, step.previousElementSibling);
    } else if (button.dataset.move === "down" && step.nextElementSibling) {
      stepsEl.insertBefore(step.nextElementSibling, step);
    } else {
      return;
    }
    renumber();
  });

  stepsEl.addEventListener("change", function (event) {
    if (event.target.matches('select[name="action"]')) {
      var step = event.target.closest(".step");
      clearErrors(step);
      showFieldset(step);
      fillIntegrations(step);
    }
  });

  function serializeStep(step) {
    var integration = step.querySelector('select[name="integration"]').value;
    var params = {};
    var fieldset = activeFieldset(step);
    if (fieldset) {
      fieldset.querySelectorAll("[data-param]").forEach(function (el) {
        var name = el.dataset.param;
        if (el.dataset.kind === "list") {
          var items = el.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
          if (items.length) {
            params[name] = items;
          }
        } else if (el.value.trim() !== "") {
          params[name] = el.value;
        }
      });
    }
    var id = integration === "" ? null : Number(integration);
    return {
      key: step.querySelector('input[name="key"]').value.trim(),
      action: actionSelect(step).value,
      integration: id === null || isNaN(id) ? null : id,
      params: params,
    };
  }

  form.addEventListener("submit", function () {
    definitionField.value = JSON.stringify({
      name: document.getElementById("workflow-name").value.trim(),
      description: document.getElementById("workflow-description").value,
      is_active: document.getElementById("workflow-active").checked,
      steps: steps().map(serializeStep),
    });
  });

  steps().forEach(showFieldset);
  renumber();
})();
