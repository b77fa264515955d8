# A step saved without a key (a fixture, the admin) is not named; two such steps may share a workflow.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('workflows', '0006_step_keys'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='workflowstep',
            name='unique_step_key',
        ),
        migrations.AddConstraint(
            model_name='workflowstep',
            constraint=models.UniqueConstraint(condition=models.Q(('key', ''), _negated=True), fields=('workflow', 'key'), name='unique_step_key'),
        ),
    ]
