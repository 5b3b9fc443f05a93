"""The twin's IAM fixture: AWS's v2 EMR service policy as the fixture keeps it is the one moto 5.2.1
bundles (a moto upgrade with a newer policy version shows up here)."""
import json
import os
import unittest

import moto.iam.aws_managed_policies as managed

HERE = os.path.dirname(os.path.abspath(__file__))


class Fixture(unittest.TestCase):
    def test_service_policy_fixture_is_the_published_one(self):
        fixture = json.load(open(os.path.join(HERE, "iam", "fixtures", "AmazonEMRServicePolicy_v2.json")))
        bundled = json.loads(managed.aws_managed_policies_data)["AmazonEMRServicePolicy_v2"]
        self.assertEqual(fixture["version"], bundled["DefaultVersionId"])
        self.assertEqual(fixture["document"], bundled["Document"])
        sids = {s.get("Sid") for s in fixture["document"]["Statement"]}
        self.assertTrue({"CreateInTaggedNetwork", "CreateEMRTaggedInstancesAndVolumes", "PassRoleForEC2"} <= sids)


if __name__ == "__main__":
    unittest.main()
