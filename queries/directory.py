"""Names to ids, for the client path: applications by name, configurations by their
application and name.

Loaded whole at start with the read model and kept current by the same announcements (each
feed entry names the row's id, application and name after the change), so while the read
model is live a name it does not know does not exist, and nothing asks the database.
Everything here runs on the event loop thread.
"""

from infra.events import Committed


def _key(application_id: str, name: str) -> str:
    return f"{application_id}/{name}"  # ids never hold '/', so this cannot be ambiguous


class Directory:
    def __init__(self) -> None:
        self._applications: dict[str, str] = {}  # name -> id
        self._application_names: dict[str, str] = {}  # id -> name
        self._configurations: dict[str, str] = {}  # "application id/name" -> id
        self._configuration_keys: dict[str, tuple[str, str]] = {}  # id -> (application id, name)
        self._by_application: dict[str, set[str]] = {}  # application id -> configuration ids

    def __len__(self) -> int:
        return len(self._application_names) + len(self._configuration_keys)

    # -- lookups ----------------------------------------------------------------------

    def application_id(self, name: str) -> str | None:
        return self._applications.get(name)

    def application_name(self, id: str) -> str | None:
        return self._application_names.get(id)

    def configuration_id(self, application_id: str, name: str) -> str | None:
        return self._configurations.get(_key(application_id, name))

    def configurations_of(self, application_id: str) -> list[tuple[str, str]]:
        """(name, id) of every configuration of the application, in no order."""
        keys = self._configuration_keys
        return [(keys[id][1], id) for id in self._by_application.get(application_id, ())]

    # -- changes ----------------------------------------------------------------------

    def clear(self) -> None:
        for index in (
            self._applications,
            self._application_names,
            self._configurations,
            self._configuration_keys,
            self._by_application,
        ):
            index.clear()

    def set_application(self, id: str, name: str) -> None:
        old = self._application_names.get(id)
        if old is not None and self._applications.get(old) == id:
            del self._applications[old]
        self._applications[name] = id
        self._application_names[id] = name

    def remove_application(self, id: str) -> None:
        name = self._application_names.pop(id, None)
        if name is not None and self._applications.get(name) == id:
            del self._applications[name]

    def set_configuration(self, id: str, application_id: str, name: str) -> None:
        self.remove_configuration(id)
        self._configurations[_key(application_id, name)] = id
        self._configuration_keys[id] = (application_id, name)
        self._by_application.setdefault(application_id, set()).add(id)

    def remove_configuration(self, id: str) -> None:
        old = self._configuration_keys.pop(id, None)
        if old is None:
            return
        application_id, name = old
        if self._configurations.get(_key(application_id, name)) == id:
            del self._configurations[_key(application_id, name)]
        siblings = self._by_application.get(application_id)
        if siblings is not None:
            siblings.discard(id)
            if not siblings:
                del self._by_application[application_id]

    def apply(self, change: Committed) -> None:
        if change.kind not in ("application", "configuration"):
            return  # a schema's change names its configuration, which it does not change
        if change.kind == "application":
            if change.action == "deleted":
                self.remove_application(change.id)
            else:
                self.set_application(change.id, change.name)
        elif change.action == "deleted":
            self.remove_configuration(change.id)
        else:
            self.set_configuration(change.id, change.application_id, change.name)
